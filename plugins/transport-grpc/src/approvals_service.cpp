// ccmux.v1.Approvals: the pending list and the audit, answers, and a live feed of every
// session's requests and resolutions.
#include "grpc_server.h"
#include "stream_core.h"
#include "unary_call.h"

#include "ccmux/v1/approvals.grpc.pb.h"

namespace ccmux::grpcx {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

bool approval_update(std::string_view m, v1::ApprovalUpdate* out) {
  v1::Approval one;
  switch (read_approval_message(m, out->mutable_pending(), &one)) {
    case ApprovalMessage::pending: return true;
    case ApprovalMessage::requested: return *out->mutable_requested() = std::move(one), true;
    case ApprovalMessage::resolved: return *out->mutable_resolved() = std::move(one), true;
    case ApprovalMessage::none: return false;
  }
  return false;
}

class WatchReactor final : public grpc::ServerWriteReactor<v1::ApprovalUpdate> {
  using Core = StreamCore<v1::ApprovalUpdate>;

 public:
  WatchReactor(GrpcServer& srv, CallbackServerContext* ctx) : srv_(srv) {
    core_ = std::make_shared<Core>(
        srv, [this](const v1::ApprovalUpdate* m, bool more) { StartWrite(m, write_options(more)); },
        [this](const grpc::Status& s) { Finish(s); }, [ctx] { ctx->TryCancel(); });
    if (!admit(srv, ctx, core_)) return;
    std::weak_ptr<Core> weak = core_;
    // watch_approvals in the hello: the pending list first, then every change.
    auto client = DaemonClient::open(srv.clients(), core_->who.client_name, true, [weak](std::string_view m) {
      auto c = weak.lock();
      v1::ApprovalUpdate u;
      if (c && approval_update(m, &u)) c->outbox.push(std::move(u));
    });
    if (!client) {
      core_->end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
      return;
    }
    core_->add_client(client);
  }
  void OnWriteDone(bool ok) override { core_->outbox.write_done(ok); }
  void OnCancel() override { core_->end(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client")); }
  void OnDone() override {
    core_->detach(srv_);
    delete this;
  }

 private:
  GrpcServer& srv_;
  std::shared_ptr<Core> core_;
};

class ApprovalsService final : public v1::Approvals::CallbackService {
 public:
  explicit ApprovalsService(GrpcServer& srv) : srv_(srv) {}

  ServerUnaryReactor* List(CallbackServerContext* ctx, const v1::ListApprovalsRequest* req,
                           v1::ListApprovalsResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      json p = json::object();
      if (req->all()) p["all"] = true;
      if (req->limit() != 0) p["limit"] = req->limit();
      c->call("approvals.list", p, [resp](const json& r) {
        for (const auto& a : r.at("approvals")) to_proto(a, resp->add_approvals());
      });
    });
  }
  ServerUnaryReactor* Answer(CallbackServerContext* ctx, const v1::AnswerRequest* req, v1::AnswerResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      c->call("approval.answer", answer_params(*req), [resp](const json& r) {
        resp->set_status(r.value("status", ""));
        resp->set_message(r.value("message", ""));
        if (auto a = r.find("approval"); a != r.end() && a->is_object()) to_proto(*a, resp->mutable_approval());
      });
    });
  }
  grpc::ServerWriteReactor<v1::ApprovalUpdate>* Watch(CallbackServerContext* ctx, const v1::WatchApprovalsRequest*) override {
    return new WatchReactor(srv_, ctx);
  }

 private:
  GrpcServer& srv_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_approvals_service(GrpcServer& server) {
  return std::make_unique<ApprovalsService>(server);
}

}  // namespace ccmux::grpcx
