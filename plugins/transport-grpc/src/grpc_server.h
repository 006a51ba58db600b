// transport-grpc's server: credentials (mTLS / TLS + tokens / loopback plain text), the
// services, health and reflection, and what all calls share — authentication, the
// in-daemon clients unary calls go through, the live streams (closed on revocation and at
// stop).
#pragma once

#include "daemon_client.h"
#include "grpc_config.h"
#include "outbox.h"
#include "peer_auth.h"

#include <ccmux/plugin.hpp>

#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/server.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace ccmux::grpcx {

// A live stream, as the server sees it: who opened it, and how to end it.
class LiveStream {
 public:
  virtual ~LiveStream() = default;
  virtual const Identity& identity() const = 0;
  // Ends the stream with `status` (once; later calls do nothing). Any thread.
  virtual void end(const grpc::Status& status) = 0;
};

class GrpcServer {
 public:
  GrpcServer(ccmux::Host& host, GrpcConfig cfg);
  ~GrpcServer();
  void start();  // throws std::runtime_error when it cannot listen
  void stop();

  ccmux::Host& host() { return host_; }
  const GrpcConfig& config() const { return cfg_; }
  ClientFactory& clients() { return clients_; }
  PeerAuth& auth() { return auth_; }
  bool stopping() const { return stopping_.load(); }
  QueueBudget& queue_budget() { return queue_budget_; }

  // The in-daemon client unary calls of this identity share (nullptr when stopping).
  std::shared_ptr<DaemonClient> unary_client(const Identity& who);
  void add_stream(const std::shared_ptr<LiveStream>& s);
  void remove_stream(const LiveStream* s);
  size_t live_streams();

 private:
  void on_revoked(const std::string& kind, const std::string& name);

  ccmux::Host& host_;
  GrpcConfig cfg_;
  ClientFactory clients_;
  PeerAuth auth_;
  std::atomic<bool> stopping_{false};
  // What all streams may queue beyond their own send_queue_bytes (outbox.h).
  QueueBudget queue_budget_{size_t{128} << 20};
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<DaemonClient>> unary_clients_;  // by Identity::client_name
  std::map<const LiveStream*, std::weak_ptr<LiveStream>> streams_;
};

// The services (one file each), over this server's shared parts.
std::unique_ptr<grpc::Service> make_sessions_service(GrpcServer& server);
std::unique_ptr<grpc::Service> make_approvals_service(GrpcServer& server);
std::unique_ptr<grpc::Service> make_events_service(GrpcServer& server);
std::unique_ptr<grpc::Service> make_machine_service(GrpcServer& server);

}  // namespace ccmux::grpcx
