// How `ccmux --host NAME` reaches a machine of hosts.yaml: a client::Transport picked by the
// entry's `transport:`, then the same client::Connection (hello, requests) as the local socket.
#pragma once

#include "hosts.h"

#include <ccmux/client/connection.h>
#include <ccmux/client/transport.h>

#include <memory>

namespace ccmux::cli {

// The transport factory. Throws client::ConnectError (its message starts with the host's
// name) or ConfigError (a token file refused).
std::unique_ptr<client::Transport> open_transport(const Host& host, int timeout_ms);
// open_transport, then hello (`timeout_ms` for each step that waits for an answer).
std::unique_ptr<client::Connection> connect_host(const Host& host, bool watch_approvals, int timeout_ms);

// The gRPC seam, alone in host_grpc.cpp: plugging client::GrpcTransport in is one function body.
std::unique_ptr<client::Transport> open_grpc_transport(const Host& host, int timeout_ms);

}  // namespace ccmux::cli
