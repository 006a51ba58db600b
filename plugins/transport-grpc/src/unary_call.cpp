#include "unary_call.h"

namespace ccmux::grpcx {

grpc::Status error_status(grpc::ServerContextBase* ctx, const ProtocolError& e) {
  if (ctx) ctx->AddTrailingMetadata("ccmux-error-code", e.code);
  return grpc::Status(status_code_for(e.code), e.message.empty() ? e.code : e.message);
}

void UnaryCall::finish(const grpc::Status& s) {
  if (finished_.exchange(true)) return;
  reactor_->Finish(s);
}

void UnaryCall::call(const std::string& method, const json& params, OnResult on_result) {
  auto client = srv_.unary_client(who_);
  if (!client) return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
  ++chained_;
  auto self = shared_from_this();
  bool sent = client->call(method, params, [self, on_result = std::move(on_result)](const json* r, const ProtocolError* e) {
    int before = self->chained_.load();
    if (e) return self->finish(error_status(self->ctx_, *e));
    try {
      on_result(*r);
    } catch (const BadRequest& b) {
      return self->finish(error_status(self->ctx_, {"bad_params", b.what()}));
    } catch (const std::exception& x) {
      return self->finish(error_status(self->ctx_, {"internal", std::string("unexpected reply: ") + x.what()}));
    }
    if (self->chained_.load() == before) self->finish(grpc::Status::OK);  // no second call started
  });
  if (!sent) finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
}

grpc::ServerUnaryReactor* unary(GrpcServer& srv, grpc::CallbackServerContext* ctx,
                                const std::function<void(const std::shared_ptr<UnaryCall>&)>& body) {
  if (srv.stopping()) {
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
    return r;
  }
  auto who = srv.auth().check(*ctx);
  if (auto* refused = std::get_if<grpc::Status>(&who)) {
    auto* r = ctx->DefaultReactor();
    r->Finish(*refused);
    return r;
  }
  auto call = std::make_shared<UnaryCall>(srv, ctx, std::get<Identity>(std::move(who)));
  try {
    body(call);
  } catch (const BadRequest& b) {
    call->finish(error_status(ctx, {"bad_params", b.what()}));
  } catch (const std::exception& x) {
    call->finish(error_status(ctx, {"internal", x.what()}));
  }
  return call->reactor();
}

}  // namespace ccmux::grpcx
