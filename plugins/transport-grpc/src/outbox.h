// A stream's outgoing messages and its end, shared by the daemon's loop thread (which
// pushes events and replies) and gRPC's threads (write completions, reads, cancels).
//
// gRPC allows one write in flight, and no StartWrite/StartRead after Finish; Finish must
// come exactly once. Completions may run inline inside StartWrite/StartRead, so no lock is
// held across those calls: `starting_` counts ops being started, and Finish waits until
// none is being started and no write is in flight — whoever clears the last one finishes.
//
// Flow control: past half of `high_water` queued bytes the daemon is told to pause this
// stream's subscription events (SDK client_set_ready); under a quarter it resumes, and the
// daemon replays what was missed from the store. A slow reader costs bounded memory and
// never stalls other streams or loses events.
#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace ccmux::grpcx {

template <class Msg>
class Outbox {
 public:
  struct Target {
    virtual ~Target() = default;
    virtual void do_write(const Msg* m) = 0;
    virtual void do_finish(const grpc::Status& s) = 0;
    virtual void set_ready(bool ready) = 0;
  };
  // `max_queued`: past it the stream is ended (the protocol's 256 MiB).
  Outbox(Target& t, size_t high_water, size_t max_queued = size_t{256} << 20)
      : t_(t), high_(high_water), max_(max_queued) {}

  // Any thread. False once the stream is ending (the message is dropped).
  bool push(Msg&& m) {
    const Msg* w = nullptr;
    bool pause = false;
    std::optional<grpc::Status> f;
    bool overflow = false;
    {
      std::lock_guard lock(mu_);
      if (ending_) return false;
      size_t n = m.ByteSizeLong();
      if (bytes_ + n > max_) {
        overflow = true;
        // Replies and approvals are not paused: a client that sends requests and never reads
        // is ended here, as the protocol ends one that lets 256 MiB pile up.
        ending_ = true;
        final_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the client does not read: over 256 MiB queued");
        f = take_finish();
      } else {
        q_.emplace_back(std::move(m), n);
        bytes_ += n;
        if (!paused_ && bytes_ > high_ / 2) paused_ = pause = true;
        if (!writing_) {
          writing_ = true;
          ++starting_;
          w = &q_.front().first;
        }
      }
    }
    if (overflow) {
      if (f) t_.do_finish(*f);  // else when the write in flight completes
      return false;
    }
    if (pause) t_.set_ready(false);
    if (w) start_write(w);
    return true;
  }

  // From OnWriteDone.
  void write_done(bool ok) {
    const Msg* w = nullptr;
    bool resume = false;
    std::optional<grpc::Status> f;
    {
      std::lock_guard lock(mu_);
      if (!q_.empty()) {
        bytes_ -= q_.front().second;
        q_.pop_front();
      }
      if (!ok && !ending_) {
        ending_ = true;
        final_ = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      }
      if (ending_) {
        writing_ = false;
        q_.clear();
        bytes_ = 0;
        f = take_finish();
      } else if (!q_.empty()) {
        ++starting_;
        w = &q_.front().first;
      } else {
        writing_ = false;
      }
      if (!ending_ && paused_ && bytes_ <= high_ / 4) {
        paused_ = false;
        resume = true;
      }
    }
    if (resume) t_.set_ready(true);
    if (w) start_write(w);
    if (f) t_.do_finish(*f);
  }

  // Ends the stream with `s` (the first call wins): at once, or when the write in flight
  // completes. Queued messages are dropped. Any thread.
  void end(const grpc::Status& s) {
    std::optional<grpc::Status> f;
    {
      std::lock_guard lock(mu_);
      if (ending_) return;
      ending_ = true;
      final_ = s;
      f = take_finish();
    }
    if (f) t_.do_finish(*f);
  }

  // A read may be started when this returns true; call read_started() right after StartRead.
  bool begin_read() {
    std::lock_guard lock(mu_);
    if (ending_) return false;
    ++starting_;
    return true;
  }
  void read_started() { op_started(); }

  bool ending() const {
    std::lock_guard lock(mu_);
    return ending_;
  }
  size_t queued_bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  void start_write(const Msg* w) {
    t_.do_write(w);
    op_started();
  }
  void op_started() {
    std::optional<grpc::Status> f;
    {
      std::lock_guard lock(mu_);
      --starting_;
      f = take_finish();
    }
    if (f) t_.do_finish(*f);
  }
  // Under mu_: the final status when Finish may be called now (once).
  std::optional<grpc::Status> take_finish() {
    if (!ending_ || finished_ || writing_ || starting_ > 0) return std::nullopt;
    finished_ = true;
    return final_;
  }

  Target& t_;
  const size_t high_;
  const size_t max_;
  mutable std::mutex mu_;
  std::deque<std::pair<Msg, size_t>> q_;
  size_t bytes_ = 0;
  int starting_ = 0;
  bool writing_ = false, paused_ = false, ending_ = false, finished_ = false;
  grpc::Status final_;
};

}  // namespace ccmux::grpcx
