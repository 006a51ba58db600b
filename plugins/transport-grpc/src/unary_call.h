// One unary call: authenticated, sent to the daemon through the caller's in-daemon client,
// and finished exactly once — with the mapped result, the daemon's error as a gRPC status
// (code in the `ccmux-error-code` trailer), or UNAVAILABLE when ccmuxd stops first.
#pragma once

#include "grpc_server.h"
#include "proto_map.h"

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <functional>
#include <memory>

namespace ccmux::grpcx {

grpc::Status error_status(grpc::ServerContextBase* ctx, const ProtocolError& e);

class UnaryCall : public std::enable_shared_from_this<UnaryCall> {
 public:
  using OnResult = std::function<void(const json& result)>;
  UnaryCall(GrpcServer& srv, grpc::CallbackServerContext* ctx, Identity who)
      : srv_(srv), ctx_(ctx), reactor_(ctx->DefaultReactor()), who_(std::move(who)) {}

  const Identity& who() const { return who_; }
  GrpcServer& server() { return srv_; }
  // Runs `method`; on success `on_result` fills the response (and may call() again for a
  // second method) — when it returns without calling again, the call finishes OK.
  void call(const std::string& method, const json& params, OnResult on_result);
  void finish(const grpc::Status& s);
  grpc::ServerUnaryReactor* reactor() { return reactor_; }

 private:
  GrpcServer& srv_;
  grpc::CallbackServerContext* ctx_;
  grpc::ServerUnaryReactor* reactor_;
  Identity who_;
  std::atomic<bool> finished_{false};
  std::atomic<int> chained_{0};
};

// Authenticates, then runs `body` (which starts the daemon calls). A BadRequest thrown by
// it (a bad JSON field, an image without a type) answers INVALID_ARGUMENT.
grpc::ServerUnaryReactor* unary(GrpcServer& srv, grpc::CallbackServerContext* ctx,
                                const std::function<void(const std::shared_ptr<UnaryCall>&)>& body);

}  // namespace ccmux::grpcx
