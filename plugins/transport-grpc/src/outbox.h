// A stream's outgoing messages and its end, shared by the daemon's loop thread (which
// pushes events and replies) and gRPC's threads (write completions, reads, cancels).
//
// gRPC allows one write in flight, and no StartWrite/StartRead after Finish; Finish must
// come exactly once. Completions may run inline inside StartWrite/StartRead, so no lock is
// held across those calls: `starting_` counts ops being started, and Finish waits until
// none is being started and no write is in flight — whoever clears the last one finishes.
//
// A write to a client that stopped reading never completes, so an end decided then (a
// revocation, the 256 MiB cap) would wait forever: the target is told (finish_deferred) and
// may cancel the call, which fails that write and lets Finish happen.
//
// Flow control: past half of `high_water` queued bytes the daemon is told to pause this
// stream's subscription events (SDK client_set_ready); under a quarter it resumes, and the
// daemon replays what was missed from the store. A slow reader costs bounded memory and
// never stalls other streams or loses events. The pause and resume calls are made in the
// order of the state they report (ready_mu_), so a late pause cannot outlive its resume.
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace ccmux::grpcx {

// Bytes queued by all of the server's streams. Live events of every session ("*"), replies
// and approvals are not paused by flow control; without a shared bound, N streams that do
// not read could hold N x 256 MiB.
struct QueueBudget {
  explicit QueueBudget(size_t l) : limit(l) {}
  const size_t limit;
  std::atomic<size_t> used{0};
};

template <class Msg>
class Outbox {
 public:
  struct Target {
    virtual ~Target() = default;
    // more: another message is queued behind this one, so gRPC may hold this one
    // (WriteOptions::set_buffer_hint) and send both with one syscall; the last one of a burst
    // is flushed at once. A stream's first write is never hinted (it starts alone): gRPC 1.51
    // holds a hinted first write, which carries the headers, until a flush.
    virtual void do_write(const Msg* m, bool more) = 0;
    virtual void do_finish(const grpc::Status& s) = 0;
    virtual void set_ready(bool ready) = 0;
    // The stream is ending but a write is in flight (called once, no lock held).
    virtual void finish_deferred() {}
  };
  // `max_queued`: past it the stream is ended (the protocol's 256 MiB).
  // `shared`: past its limit, a stream over 8x its own high water is ended too.
  Outbox(Target& t, size_t high_water, size_t max_queued = size_t{256} << 20, QueueBudget* shared = nullptr)
      : t_(t), high_(high_water), max_(max_queued), shared_(shared) {}
  ~Outbox() { account(0); }

  // Any thread. False once the stream is ending (the message is dropped).
  bool push(Msg&& m) {
    const Msg* w = nullptr;
    bool pause = false, more = false;
    std::optional<grpc::Status> f;
    bool overflow = false, deferred = false;
    {
      std::lock_guard lock(mu_);
      if (ending_) return false;
      size_t n = m.ByteSizeLong();
      // Only a stream far behind (8x its high water) pays for a full shared budget: one that is
      // merely paused (a session subscription fills to about its high water, then the daemon
      // holds its events) or briefly slow must not be ended because others hog the budget
      // (a "*" reader on a loaded machine was, in a full ctest run).
      bool over_shared = shared_ && bytes_ + n > 8 * high_ && shared_->used.load() + n > shared_->limit;
      if (bytes_ + n > max_ || over_shared) {
        overflow = true;
        // Replies and approvals are not paused: a client that sends requests and never reads
        // is ended here, as the protocol ends one that lets 256 MiB pile up.
        ending_ = true;
        draining_ = false;
        final_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              over_shared ? "the client does not read: ccmuxd's gRPC send queues are full"
                                          : "the client does not read: over 256 MiB queued");
        drop_queued();
        f = take_finish();
        deferred = !f && take_deferred();
      } else {
        q_.emplace_back(std::move(m), n);
        account(bytes_ + n);
        if (!paused_ && bytes_ > high_ / 2) paused_ = pause = true;
        if (!writing_) {
          writing_ = true;
          ++starting_;
          w = &q_.front().first;
          more = q_.size() > 1;
        }
      }
    }
    if (overflow) {
      if (f) t_.do_finish(*f);  // else when the write in flight completes
      if (deferred) t_.finish_deferred();
      return false;
    }
    if (pause) sync_ready();
    if (w) start_write(w, more);
    return true;
  }

  // From OnWriteDone.
  void write_done(bool ok) {
    const Msg* w = nullptr;
    bool resume = false, more = false;
    std::optional<grpc::Status> f;
    {
      std::lock_guard lock(mu_);
      if (!q_.empty()) {
        account(bytes_ - q_.front().second);
        q_.pop_front();
      }
      if (!ok && (!ending_ || draining_)) {
        ending_ = true;
        draining_ = false;
        final_ = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      }
      if (ending_ && !(draining_ && !q_.empty())) {
        writing_ = false;
        q_.clear();
        account(0);
        f = take_finish();
      } else if (!q_.empty()) {
        ++starting_;
        w = &q_.front().first;
        more = q_.size() > 1;
      } else {
        writing_ = false;
      }
      if (!ending_ && paused_ && bytes_ <= high_ / 4) {
        paused_ = false;
        resume = true;
      }
    }
    if (resume) sync_ready();
    if (w) start_write(w, more);
    if (f) t_.do_finish(*f);
  }

  // Ends the stream with `s` (the first call wins): at once, or when the write in flight
  // completes. Queued messages are dropped. Any thread.
  void end(const grpc::Status& s) {
    std::optional<grpc::Status> f;
    bool deferred = false;
    {
      std::lock_guard lock(mu_);
      if (ending_ && !draining_) return;
      final_ = s;  // also over a drain's status: what it owed the client is dropped now
      ending_ = true;
      draining_ = false;
      drop_queued();
      f = take_finish();
      deferred = !f && take_deferred();
    }
    if (f) t_.do_finish(*f);
    if (deferred) t_.finish_deferred();
  }

  // Ends the stream with `s` once everything queued is written; nothing new is taken. For a
  // client that is done sending: the replies it is owed still reach it. end() cuts it short.
  void end_when_drained(const grpc::Status& s) {
    std::optional<grpc::Status> f;
    {
      std::lock_guard lock(mu_);
      if (ending_) return;
      ending_ = true;
      draining_ = true;
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
  bool finished() const {
    std::lock_guard lock(mu_);
    return finished_;
  }
  size_t queued_bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }

 private:
  void start_write(const Msg* w, bool more) {
    t_.do_write(w, more);
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
  // Under mu_: true once, when the end waits for a write in flight.
  bool take_deferred() {
    if (!writing_ || deferred_) return false;
    deferred_ = true;
    return true;
  }
  // Under mu_: drops what is queued, except the message gRPC is writing.
  void drop_queued() {
    size_t keep = writing_ && !q_.empty() ? 1 : 0;
    while (q_.size() > keep) q_.pop_back();
    account(keep ? q_.front().second : 0);
  }
  // Under mu_ (or in the destructor): this stream now queues `bytes`; the budget follows.
  void account(size_t bytes) {
    if (shared_ && bytes != bytes_) {
      if (bytes > bytes_) shared_->used += bytes - bytes_;
      else shared_->used -= bytes_ - bytes;
    }
    bytes_ = bytes;
  }
  // Tells the target the current pause state, if it changed since it was last told. Serial
  // (ready_mu_): whoever calls last reads the latest state, so the last call made is right.
  void sync_ready() {
    std::lock_guard r(ready_mu_);  // recursive: on the loop, a resume replays events into push()
    bool ready;
    {
      std::lock_guard lock(mu_);
      ready = !paused_;
    }
    if (ready == told_ready_) return;
    told_ready_ = ready;
    t_.set_ready(ready);
  }

  Target& t_;
  const size_t high_;
  const size_t max_;
  QueueBudget* const shared_;
  mutable std::mutex mu_;
  std::deque<std::pair<Msg, size_t>> q_;
  size_t bytes_ = 0;
  int starting_ = 0;
  bool writing_ = false, paused_ = false, ending_ = false, finished_ = false;
  bool draining_ = false;  // ending, but what is queued is still written
  bool deferred_ = false;  // finish_deferred was called
  grpc::Status final_;
  std::recursive_mutex ready_mu_;  // serialises set_ready calls; taken before mu_, never inside it
  bool told_ready_ = true;
};

}  // namespace ccmux::grpcx
