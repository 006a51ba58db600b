// ccmux.v1.Events: Subscribe (a session's events from a seq) and Connect (one bidirectional
// stream for interactive clients).
#include "grpc_server.h"
#include "stream_core.h"

#include "ccmux/v1/events.grpc.pb.h"

#include <algorithm>
#include <atomic>

namespace ccmux::grpcx {
namespace {

using grpc::CallbackServerContext;

json subscribe_params(const v1::SubscribeRequest& r) {
  return {{"session", r.session()}, {"from_seq", std::max<uint64_t>(1, r.from_seq())}};
}

void fill_subscribed(const json& r, v1::Subscribed* s) {
  s->set_session(r.value("session", ""));
  s->set_subscription(r.value("subscription", uint64_t{0}));
  s->set_head(r.value("head", uint64_t{0}));
}

class SubscribeReactor final : public grpc::ServerWriteReactor<v1::SubscribeUpdate> {
  using Core = StreamCore<v1::SubscribeUpdate>;

 public:
  SubscribeReactor(GrpcServer& srv, CallbackServerContext* ctx, const v1::SubscribeRequest* req) : srv_(srv) {
    core_ = std::make_shared<Core>(
        srv, [this](const v1::SubscribeUpdate* m, bool more) { StartWrite(m, write_options(more)); },
        [this](const grpc::Status& s) { Finish(s); }, [ctx] { ctx->TryCancel(); });
    if (!admit(srv, ctx, core_)) return;
    std::weak_ptr<Core> weak = core_;
    auto client = DaemonClient::open(srv.clients(), core_->who.client_name, false, [weak](std::string_view m) {
      auto c = weak.lock();
      v1::SubscribeUpdate u;
      if (c && parse_event(m, u.mutable_event())) c->outbox.push(std::move(u));
    });
    if (!client) {
      core_->end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
      return;
    }
    core_->add_client(client);
    client->call("subscribe", subscribe_params(*req), [weak](const json* r, const ProtocolError* e) {
      auto c = weak.lock();
      if (!c) return;
      if (e) return c->end(stream_error(*e));
      v1::SubscribeUpdate u;
      fill_subscribed(*r, u.mutable_subscribed());
      c->outbox.push(std::move(u));
    });
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

// Replies a Connect client is owed. Once it is done sending (half-close), the stream ends
// when the last of them is queued and written — not at once, which would drop them.
class Owed {
 public:
  void add() { ++n_; }
  // True once, when the client is done sending and nothing is owed.
  bool settle() { return --n_ == 0 && done_ && !ended_.exchange(true); }
  bool client_done() {
    done_ = true;
    return n_ == 0 && !ended_.exchange(true);
  }

 private:
  std::atomic<long> n_{0};
  std::atomic<bool> done_{false}, ended_{false};
};

class ConnectReactor final : public grpc::ServerBidiReactor<v1::ClientMessage, v1::ServerMessage> {
  using Core = StreamCore<v1::ServerMessage>;

 public:
  ConnectReactor(GrpcServer& srv, CallbackServerContext* ctx) : srv_(srv) {
    core_ = std::make_shared<Core>(
        srv, [this](const v1::ServerMessage* m, bool more) { StartWrite(m, write_options(more)); },
        [this](const grpc::Status& s) { Finish(s); }, [ctx] { ctx->TryCancel(); });
    if (!admit(srv, ctx, core_)) return;
    client_ = open_client(false);
    if (!client_) {
      core_->end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
      return;
    }
    read_next();
  }
  void OnReadDone(bool ok) override {
    if (!ok) {  // the client is done sending (or gone: then OnCancel ends the stream)
      if (owed_->client_done()) core_->outbox.end_when_drained(grpc::Status::OK);
      return;
    }
    v1::ClientMessage msg = std::move(in_);
    in_.Clear();
    dispatch(msg);
    read_next();
  }
  void OnWriteDone(bool ok) override { core_->outbox.write_done(ok); }
  void OnCancel() override { core_->end(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client")); }
  void OnDone() override {
    core_->detach(srv_);
    delete this;
  }

 private:
  void read_next() {
    if (!core_->outbox.begin_read()) return;
    StartRead(&in_);
    core_->outbox.read_started();
  }

  // Events and approval messages, as the daemon sends them, onto the stream.
  std::shared_ptr<DaemonClient> open_client(bool watch) {
    std::weak_ptr<Core> weak = core_;
    auto c = DaemonClient::open(srv_.clients(), core_->who.client_name, watch, [weak](std::string_view m) {
      auto core = weak.lock();
      if (!core) return;
      v1::ServerMessage out;
      if (parse_event(m, out.mutable_event())) {
        core->outbox.push(std::move(out));
        return;
      }
      out.Clear();
      v1::Approval one;
      switch (read_approval_message(m, out.mutable_approvals_pending(), &one)) {
        case ApprovalMessage::pending: break;
        case ApprovalMessage::requested: *out.mutable_approval_requested() = std::move(one); break;
        case ApprovalMessage::resolved: *out.mutable_approval_resolved() = std::move(one); break;
        case ApprovalMessage::none: return;
      }
      core->outbox.push(std::move(out));
    });
    if (c) core_->add_client(c);
    return c;
  }

  void reply_error(uint64_t id, const std::string& code, const std::string& message) {
    v1::ServerMessage out;
    out.mutable_reply()->set_id(id);
    out.mutable_reply()->mutable_error()->set_code(code);
    out.mutable_reply()->mutable_error()->set_message(message);
    core_->outbox.push(std::move(out));
  }

  // Sends `method` and puts its reply (and, for a subscribe, the `subscribed` message) on
  // the stream with the request's id.
  void forward(uint64_t id, const std::string& method, const json& params, bool subscribed = false) {
    std::weak_ptr<Core> weak = core_;
    owed_->add();
    bool sent = client_->call(method, params, [weak, owed = owed_, id, subscribed](const json* r, const ProtocolError* e) {
      auto core = weak.lock();
      if (!core) return;
      v1::ServerMessage out;
      auto* reply = out.mutable_reply();
      reply->set_id(id);
      if (e) {
        reply->mutable_error()->set_code(e->code);
        reply->mutable_error()->set_message(e->message);
        core->outbox.push(std::move(out));
      } else {
        reply->set_result_json(r->dump());
        core->outbox.push(std::move(out));
        if (subscribed) {
          v1::ServerMessage s;
          fill_subscribed(*r, s.mutable_subscribed());
          core->outbox.push(std::move(s));
        }
      }
      if (owed->settle()) core->outbox.end_when_drained(grpc::Status::OK);
    });
    if (!sent) {
      reply_error(id, "unavailable", "ccmuxd is stopping");
      if (owed_->settle()) core_->outbox.end_when_drained(grpc::Status::OK);
    }
  }

  void dispatch(const v1::ClientMessage& m) {
    const uint64_t id = m.id();
    try {
      switch (m.body_case()) {
        case v1::ClientMessage::kCall: {
          json params = json_bytes(m.call().params_json(), "call.params_json");
          if (!params.is_object()) throw BadRequest("field 'call.params_json' must be a JSON object");
          return forward(id, m.call().method(), params);
        }
        case v1::ClientMessage::kSubscribe:
          return forward(id, "subscribe", subscribe_params(m.subscribe()), true);
        case v1::ClientMessage::kUnsubscribe:
          return forward(id, "unsubscribe", {{"session", m.unsubscribe().session()}});
        case v1::ClientMessage::kSend:
          return forward(id, "session.send", {{"session", m.send().session()}, {"prompt", prompt_json(m.send().prompt())}});
        case v1::ClientMessage::kAnswer:
          return forward(id, "approval.answer", answer_params(m.answer()));
        case v1::ClientMessage::kInterrupt:
          return forward(id, "session.interrupt", {{"session", m.interrupt().session()}});
        case v1::ClientMessage::kSetMode:
          return forward(id, "session.mode", {{"session", m.set_mode().session()}, {"mode", m.set_mode().mode()}});
        case v1::ClientMessage::kWatchApprovals: {
          // A second in-daemon client that watches approvals (the protocol's hello option).
          if (!watching_) watching_ = open_client(true) != nullptr;
          if (!watching_) return reply_error(id, "unavailable", "ccmuxd is stopping");
          v1::ServerMessage out;
          out.mutable_reply()->set_id(id);
          out.mutable_reply()->set_result_json("{}");
          core_->outbox.push(std::move(out));
          return;
        }
        case v1::ClientMessage::BODY_NOT_SET:
          return reply_error(id, "bad_message", "a ClientMessage needs a body (call, subscribe, send, answer, ...)");
      }
    } catch (const BadRequest& b) {
      return reply_error(id, "bad_params", b.what());
    }
  }

  GrpcServer& srv_;
  std::shared_ptr<Core> core_;
  std::shared_ptr<DaemonClient> client_;
  std::shared_ptr<Owed> owed_ = std::make_shared<Owed>();
  bool watching_ = false;
  v1::ClientMessage in_;
};

class EventsService final : public v1::Events::CallbackService {
 public:
  explicit EventsService(GrpcServer& srv) : srv_(srv) {}
  grpc::ServerWriteReactor<v1::SubscribeUpdate>* Subscribe(CallbackServerContext* ctx,
                                                           const v1::SubscribeRequest* req) override {
    return new SubscribeReactor(srv_, ctx, req);
  }
  grpc::ServerBidiReactor<v1::ClientMessage, v1::ServerMessage>* Connect(CallbackServerContext* ctx) override {
    return new ConnectReactor(srv_, ctx);
  }

 private:
  GrpcServer& srv_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_events_service(GrpcServer& server) {
  return std::make_unique<EventsService>(server);
}

}  // namespace ccmux::grpcx
