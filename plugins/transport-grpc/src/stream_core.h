// What a streaming call keeps beyond its reactor: who opened it, its outbox, its in-daemon
// client(s). Shared with the daemon's callbacks (weakly) and the server's list of live
// streams, so a late event finds an ended stream and drops, never a freed reactor.
#pragma once

#include "daemon_client.h"
#include "grpc_server.h"
#include "outbox.h"
#include "proto_map.h"

#include <grpcpp/impl/call_op_set.h>  // grpc::WriteOptions

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace ccmux::grpcx {

// How long an ended stream waits for a write its client does not take (it stopped reading)
// before the call is cancelled: long enough for a reading client to get the real status.
inline constexpr std::chrono::seconds kStuckWriteGrace{5};

template <class Msg>
class StreamCore final : public LiveStream, public Outbox<Msg>::Target, public std::enable_shared_from_this<StreamCore<Msg>> {
 public:
  // `cancel` cancels the call (ServerContext::TryCancel); it is not called after detach().
  StreamCore(GrpcServer& srv, std::function<void(const Msg*, bool more)> write, std::function<void(const grpc::Status&)> finish,
             std::function<void()> cancel)
      : outbox(*this, srv.config().send_queue_bytes, size_t{256} << 20, &srv.queue_budget()),
        host_(srv.host()),
        write_(std::move(write)),
        finish_(std::move(finish)),
        cancel_(std::move(cancel)) {}

  const Identity& identity() const override { return who; }
  void end(const grpc::Status& s) override { outbox.end(s); }
  void do_write(const Msg* m, bool more) override { write_(m, more); }
  void do_finish(const grpc::Status& s) override { finish_(s); }
  void set_ready(bool ready) override {
    for (auto& c : snapshot()) c->set_ready(ready);
  }
  // The end waits for a write in flight: if the client has not taken it within the grace,
  // it never will (it stopped reading) — cancelling fails that write, and Finish follows.
  void finish_deferred() override {
    std::weak_ptr<StreamCore> weak = this->shared_from_this();
    host_.after(kStuckWriteGrace, [weak] {
      if (auto c = weak.lock(); c && !c->outbox.finished()) c->cancel();
    });
  }
  void add_client(std::shared_ptr<DaemonClient> c) {
    std::lock_guard lock(mu_);
    clients_.push_back(std::move(c));
  }
  // At OnDone: the daemon stops sending (clients closed); the stream leaves the list.
  void detach(GrpcServer& srv) {
    {
      std::lock_guard lock(cancel_mu_);
      detached_ = true;  // the call's context is freed after OnDone
    }
    for (auto& c : snapshot()) c->close();
    srv.remove_stream(this);
  }
  void cancel() {
    std::lock_guard lock(cancel_mu_);
    if (!detached_) cancel_();
  }

  Identity who;  // set by admit() before any message can arrive, then only read
  Outbox<Msg> outbox;

 private:
  std::vector<std::shared_ptr<DaemonClient>> snapshot() {
    std::lock_guard lock(mu_);
    return clients_;
  }

  ccmux::Host& host_;
  std::mutex mu_;
  // Held across TryCancel, so OnDone cannot free the context meanwhile. Recursive: should
  // gRPC run OnDone inline inside TryCancel, its detach() takes it again on this thread.
  std::recursive_mutex cancel_mu_;
  bool detached_ = false;
  std::vector<std::shared_ptr<DaemonClient>> clients_;
  std::function<void(const Msg*, bool)> write_;
  std::function<void(const grpc::Status&)> finish_;
  std::function<void()> cancel_;
};

// Authenticates a new stream and registers it; false (stream ended with the reason) when
// refused or when ccmuxd is stopping.
template <class Msg>
bool admit(GrpcServer& srv, grpc::CallbackServerContext* ctx, const std::shared_ptr<StreamCore<Msg>>& core) {
  if (srv.stopping()) {
    core->end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping"));
    return false;
  }
  auto who = srv.auth().check(*ctx);
  if (auto* refused = std::get_if<grpc::Status>(&who)) {
    core->end(*refused);
    return false;
  }
  core->who = std::get<Identity>(std::move(who));
  srv.add_stream(core);
  return true;
}

// A write with more queued behind it is only buffered: a burst of events leaves in a few
// large writes instead of one syscall each (gRPC flushes at the first write without the hint,
// when its buffer fills, or at Finish).
inline grpc::WriteOptions write_options(bool more) {
  grpc::WriteOptions o;
  if (more) o.set_buffer_hint();
  return o;
}

inline grpc::Status stream_error(const ProtocolError& e) {
  return grpc::Status(status_code_for(e.code), e.code + ": " + e.message);
}

}  // namespace ccmux::grpcx
