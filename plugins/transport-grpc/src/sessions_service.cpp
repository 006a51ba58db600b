// ccmux.v1.Sessions: docs/protocol.md's session.* methods.
#include "grpc_server.h"
#include "unary_call.h"

#include "ccmux/v1/sessions.grpc.pb.h"

namespace ccmux::grpcx {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

json ref(const v1::SessionRef* r) { return {{"session", r->session()}}; }

class SessionsService final : public v1::Sessions::CallbackService {
 public:
  explicit SessionsService(GrpcServer& srv) : srv_(srv) {}

  ServerUnaryReactor* List(CallbackServerContext* ctx, const v1::ListSessionsRequest*, v1::ListSessionsResponse* resp) override {
    return unary(srv_, ctx, [resp](const auto& c) {
      c->call("session.list", json::object(), [resp](const json& r) {
        for (const auto& s : r.at("sessions")) to_proto(s, resp->add_sessions());
      });
    });
  }
  ServerUnaryReactor* Get(CallbackServerContext* ctx, const v1::SessionRef* req, v1::Session* resp) override {
    return session_call(ctx, "session.get", ref(req), resp);
  }
  ServerUnaryReactor* New(CallbackServerContext* ctx, const v1::NewSessionRequest* req, v1::Session* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      c->call("session.new", new_session_params(*req), [resp](const json& r) { to_proto(r, resp); });
    });
  }
  ServerUnaryReactor* Send(CallbackServerContext* ctx, const v1::SendRequest* req, v1::SendResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      json p{{"session", req->session()}, {"prompt", prompt_json(req->prompt())}};
      c->call("session.send", p, [resp](const json& r) {
        resp->set_session(r.value("session", ""));
        resp->set_prompt_id(r.value("prompt_id", int64_t{0}));
      });
    });
  }
  ServerUnaryReactor* Resume(CallbackServerContext* ctx, const v1::SessionRef* req, v1::Session* resp) override {
    return session_call(ctx, "session.resume", ref(req), resp);
  }
  ServerUnaryReactor* Stop(CallbackServerContext* ctx, const v1::SessionRef* req, v1::StopResponse*) override {
    return unary(srv_, ctx, [req](const auto& c) { c->call("session.stop", ref(req), [](const json&) {}); });
  }
  ServerUnaryReactor* Interrupt(CallbackServerContext* ctx, const v1::SessionRef* req, v1::InterruptResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      c->call("session.interrupt", ref(req), [resp](const json& r) { resp->set_reply_json(r.dump()); });
    });
  }
  ServerUnaryReactor* SetMode(CallbackServerContext* ctx, const v1::SetModeRequest* req, v1::SetModeResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      c->call("session.mode", {{"session", req->session()}, {"mode", req->mode()}},
              [resp](const json& r) { resp->set_mode(r.value("mode", "")); });
    });
  }
  ServerUnaryReactor* ListWorktrees(CallbackServerContext* ctx, const v1::ListWorktreesRequest* req,
                                    v1::ListWorktreesResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      json p = req->repo().empty() ? json::object() : json{{"repo", req->repo()}};
      c->call("worktree.list", p, [resp](const json& r) {
        for (const auto& w : r.at("worktrees")) to_proto(w, resp->add_worktrees());
        for (const auto& e : r.at("errors")) {
          auto* out = resp->add_errors();
          out->set_repo(e.value("repo", ""));
          out->set_message(e.value("message", ""));
        }
      });
    });
  }
  ServerUnaryReactor* RemoveWorktree(CallbackServerContext* ctx, const v1::RemoveWorktreeRequest* req,
                                     v1::RemoveWorktreeResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      json p = {{"force", req->force()}};
      if (!req->name().empty()) p["name"] = req->name();
      if (!req->path().empty()) p["path"] = req->path();
      if (!req->repo().empty()) p["repo"] = req->repo();
      c->call("worktree.remove", p, [resp](const json& r) {
        resp->set_repo(r.value("repo", ""));
        resp->set_path(r.value("path", ""));
        resp->set_name(r.value("name", ""));
      });
    });
  }
  ServerUnaryReactor* PruneWorktrees(CallbackServerContext* ctx, const v1::PruneWorktreesRequest* req,
                                     v1::PruneWorktreesResponse* resp) override {
    return unary(srv_, ctx, [req, resp](const auto& c) {
      json p = req->repo().empty() ? json::object() : json{{"repo", req->repo()}};
      c->call("worktree.prune", p, [resp](const json& r) {
        for (const auto& l : r.at("pruned")) resp->add_pruned(l.get<std::string>());
        for (const auto& f : r.at("forgotten")) resp->add_forgotten(f.get<std::string>());
      });
    });
  }

 private:
  ServerUnaryReactor* session_call(CallbackServerContext* ctx, const char* method, json params, v1::Session* resp) {
    return unary(srv_, ctx, [method, params = std::move(params), resp](const auto& c) {
      c->call(method, params, [resp](const json& r) { to_proto(r, resp); });
    });
  }
  GrpcServer& srv_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_sessions_service(GrpcServer& server) {
  return std::make_unique<SessionsService>(server);
}

}  // namespace ccmux::grpcx
