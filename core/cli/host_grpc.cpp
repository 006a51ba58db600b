// transport: grpc in hosts.yaml: client::GrpcTransport over transport-grpc's Events/Connect.
#include "host_transport.h"

#include <ccmux/client/grpc_transport.h>

namespace ccmux::cli {

std::unique_ptr<client::Transport> open_grpc_transport(const Host& host, int timeout_ms) {
  client::GrpcOptions o;
  o.address = host.address;
  o.tls = host.tls;
  o.ca_file = host.ca;
  o.cert_file = host.cert;
  o.key_file = host.key;
  if (!host.token_file.empty()) o.token = read_token_file(host);
  o.server_name = host.server_name;
  o.timeout_ms = timeout_ms;
  return client::GrpcTransport::connect(o);
}

}  // namespace ccmux::cli
