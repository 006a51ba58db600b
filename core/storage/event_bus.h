// Numbered, persisted events. publish() assigns the next seq of the session and
// writes the event into the store's open transaction; flush() commits the batch
// and only then delivers it, so no client ever sees an event that is not stored.
// A subscriber that falls behind (sink not ready) is fed from the store later:
// memory stays bounded and the stream has no gap and no duplicate.
#pragma once

#include "storage/event_cap.h"
#include "storage/store.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ccmux {

struct EventView {
  std::string_view session;
  uint64_t seq;
  int64_t ts_ms;
  std::string_view kind;
  std::string_view payload;  // JSON, byte for byte as stored
  uint64_t subscription = 0;  // the id subscribe() returned for the sink receiving it
};

// deliver() may re-enter the bus (publish, subscribe, resume, unsubscribe any sink, itself
// included) and may destroy this sink or others: the bus never touches a sink again once it
// is unsubscribed or destroyed, even one destroyed without unsubscribing.
class EventSink {
 public:
  EventSink() = default;
  EventSink(const EventSink&) {}  // a copy is another sink, with its own liveness
  EventSink& operator=(const EventSink&) { return *this; }
  virtual ~EventSink() = default;
  // False while the sink's own queue is full; the bus then stops feeding it until resume().
  // A query: it must not re-enter the bus.
  virtual bool ready() const { return true; }
  virtual void deliver(const EventView& ev) = 0;

 private:
  friend class EventBus;
  std::shared_ptr<const bool> alive_ = std::make_shared<const bool>(true);  // expires with the sink
};

class EventBus {
 public:
  explicit EventBus(Store& store) : store_(store) {}

  // Sets a session's last seq at startup (from the store).
  void set_head(const std::string& session, uint64_t seq);
  uint64_t head(const std::string& session) const;

  // Payloads over the cap's limit are stored (and delivered) cut, whole in a file.
  void set_cap(std::unique_ptr<EventCap> cap) { cap_ = std::move(cap); }
  const EventCap* cap() const { return cap_.get(); }
  uint64_t publish(const std::string& session, std::string_view kind, std::string payload);
  void flush();
  size_t pending() const { return pending_.size(); }

  // While one exists, nothing commits: flush() is remembered and done when the last Defer
  // ends, and publish() does not flush on its own. The supervisor holds one while it handles
  // one line of claude's: a transaction then holds all of a line's effects or none (issue 13).
  class Defer {
   public:
    explicit Defer(EventBus& bus) : bus_(bus) { ++bus_.defer_; }
    ~Defer();
    Defer(const Defer&) = delete;
    Defer& operator=(const Defer&) = delete;

   private:
    EventBus& bus_;
  };

  // session "*" = every session, live only (from_seq ignored). `registered` runs with the
  // new id before the replay starts (a client answers with the id first).
  uint64_t subscribe(const std::string& session, uint64_t from_seq, EventSink* sink,
                     const std::function<void(uint64_t id)>& registered = {});
  void unsubscribe(uint64_t id);
  void resume(uint64_t id);  // the sink is ready again
  size_t subscriber_count() const { return subs_.size(); }

 private:
  struct Pending {
    std::string session;
    uint64_t seq;
    int64_t ts_ms;
    std::string kind;
    std::string payload;
  };
  struct Sub {
    std::string session;
    uint64_t next_seq;  // the next seq this sink gets, kept current after every delivery
    bool caught_up;
    EventSink* sink;
    std::weak_ptr<const bool> alive;  // the sink's: expired once it is destroyed
  };
  // The subscription, or null when it is gone (a destroyed sink's is dropped here).
  Sub* find_live(uint64_t id);
  void pump(uint64_t id);
  void deliver(const Pending& p);
  uint64_t committed(const std::string& session) const;

  Store& store_;
  std::unique_ptr<EventCap> cap_;
  std::unordered_map<std::string, uint64_t> assigned_;   // last seq handed out
  std::unordered_map<std::string, uint64_t> committed_;  // last seq committed
  std::vector<Pending> pending_;
  std::map<uint64_t, Sub> subs_;
  std::unordered_map<std::string, std::vector<uint64_t>> by_session_;  // "*" for wildcard subs
  uint64_t next_sub_ = 1;
  bool flushing_ = false;
  int defer_ = 0;
  bool flush_wanted_ = false;
};

}  // namespace ccmux
