#include "host_transport.h"

#include <ccmux/client/ws_transport.h>

namespace ccmux::cli {

namespace {

std::unique_ptr<client::Transport> open_ws_transport(const Host& h, int timeout_ms) {
  client::WsOptions o;
  o.host = h.hostname;
  o.port = h.port;
  o.tls = h.tls;
  o.ca_file = h.ca;
  o.token = read_token_file(h);
  o.timeout_ms = timeout_ms;
  o.connect_timeout_ms = timeout_ms;
  return client::WsTransport::connect(o);
}

}  // namespace

std::unique_ptr<client::Transport> open_transport(const Host& h, int timeout_ms) {
  try {
    switch (h.transport) {
      case HostTransport::ws: return open_ws_transport(h, timeout_ms);
      case HostTransport::grpc: return open_grpc_transport(h, timeout_ms);
    }
  } catch (const client::ConnectError& e) {
    if (std::string(e.what()).rfind("host '" + h.name + "'", 0) == 0) throw;
    throw client::ConnectError(e.reason, "host '" + h.name + "': " + e.what());
  }
  throw client::ConnectError(client::ConnectFailure::other, "host '" + h.name + "': unknown transport");
}

std::unique_ptr<client::Connection> connect_host(const Host& h, bool watch_approvals, int timeout_ms) {
  client::HelloOptions hello;
  hello.watch_approvals = watch_approvals;
  hello.timeout_ms = timeout_ms;
  try {
    return std::make_unique<client::Connection>(open_transport(h, timeout_ms), hello);
  } catch (const client::ConnectError& e) {
    if (std::string(e.what()).rfind("host '", 0) == 0) throw;
    throw client::ConnectError(e.reason, "host '" + h.name + "': " + e.what());
  } catch (const client::Disconnected& e) {  // closed during hello (a server that is going away)
    throw client::Disconnected("host '" + h.name + "': " + e.what());
  }
}

}  // namespace ccmux::cli
