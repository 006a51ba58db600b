// What a streaming call keeps beyond its reactor: who opened it, its outbox, its in-daemon
// client(s). Shared with the daemon's callbacks (weakly) and the server's list of live
// streams, so a late event finds an ended stream and drops, never a freed reactor.
#pragma once

#include "daemon_client.h"
#include "grpc_server.h"
#include "outbox.h"
#include "proto_map.h"

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace ccmux::grpcx {

template <class Msg>
class StreamCore final : public LiveStream, public Outbox<Msg>::Target {
 public:
  StreamCore(size_t high_water, std::function<void(const Msg*)> write, std::function<void(const grpc::Status&)> finish)
      : outbox(*this, high_water), write_(std::move(write)), finish_(std::move(finish)) {}

  const Identity& identity() const override { return who; }
  void end(const grpc::Status& s) override { outbox.end(s); }
  void do_write(const Msg* m) override { write_(m); }
  void do_finish(const grpc::Status& s) override { finish_(s); }
  void set_ready(bool ready) override {
    for (auto& c : snapshot()) c->set_ready(ready);
  }
  void add_client(std::shared_ptr<DaemonClient> c) {
    std::lock_guard lock(mu_);
    clients_.push_back(std::move(c));
  }
  // At OnDone: the daemon stops sending (clients closed); the stream leaves the list.
  void detach(GrpcServer& srv) {
    for (auto& c : snapshot()) c->close();
    srv.remove_stream(this);
  }

  Identity who;  // set by admit() before any message can arrive, then only read
  Outbox<Msg> outbox;

 private:
  std::vector<std::shared_ptr<DaemonClient>> snapshot() {
    std::lock_guard lock(mu_);
    return clients_;
  }

  std::mutex mu_;
  std::vector<std::shared_ptr<DaemonClient>> clients_;
  std::function<void(const Msg*)> write_;
  std::function<void(const grpc::Status&)> finish_;
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

inline grpc::Status stream_error(const ProtocolError& e) {
  return grpc::Status(status_code_for(e.code), e.code + ": " + e.message);
}

}  // namespace ccmux::grpcx
