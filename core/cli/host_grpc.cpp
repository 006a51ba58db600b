// transport: grpc in hosts.yaml. The gRPC client transport (plugins/transport-grpc's proto) is
// not built yet: until it is, a grpc entry is refused here, and only here.
#include "host_transport.h"

namespace ccmux::cli {

std::unique_ptr<client::Transport> open_grpc_transport(const Host& host, int /*timeout_ms*/) {
  throw client::ConnectError(client::ConnectFailure::other,
                             "host '" + host.name + "' (" + host.where +
                                 "): transport grpc is not built into this ccmux yet; use transport: ws");
}

}  // namespace ccmux::cli
