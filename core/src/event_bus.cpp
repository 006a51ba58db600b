#include "event_bus.h"

#include "util.h"

#include <algorithm>

namespace ccmux {

void EventBus::set_head(const std::string& session, uint64_t seq) {
  assigned_[session] = seq;
  committed_[session] = seq;
}

uint64_t EventBus::head(const std::string& session) const {
  auto it = assigned_.find(session);
  return it == assigned_.end() ? 0 : it->second;
}

uint64_t EventBus::publish(const std::string& session, std::string_view kind, std::string payload) {
  uint64_t seq = ++assigned_[session];
  int64_t ts = now_ms();
  if (cap_ && cap_->over(payload)) payload = cap_->cap(session, seq, std::move(payload));
  store_.append_event(session, seq, ts, kind, payload);
  pending_.push_back({session, seq, ts, std::string(kind), std::move(payload)});
  if (pending_.size() >= 4096 && !flushing_) flush();  // bound memory on a firehose
  return seq;
}

void EventBus::flush() {
  if (flushing_) {
    // Called from inside a delivery (e.g. a plugin answering an approval from an event
    // callback): commit now so what follows is stored; delivery happens in the outer loop.
    store_.commit();
    return;
  }
  flushing_ = true;
  // Sinks may publish while they receive: keep going until nothing is left, so no event
  // waits for the next wake-up of the loop.
  while (!pending_.empty()) {
    store_.commit();
    std::vector<Pending> batch;
    batch.swap(pending_);
    for (auto& p : batch) committed_[p.session] = p.seq;
    for (auto& p : batch) deliver(p);
  }
  store_.commit();
  flushing_ = false;
}

void EventBus::deliver(const Pending& p) {
  EventView ev{p.session, p.seq, p.ts_ms, p.kind, p.payload};
  // Copy ids: a sink may unsubscribe itself (or others) while we deliver.
  std::vector<uint64_t> ids;
  for (const char* key : {p.session.c_str(), "*"}) {
    auto it = by_session_.find(key);
    if (it != by_session_.end()) ids.insert(ids.end(), it->second.begin(), it->second.end());
  }
  for (uint64_t id : ids) {
    auto it = subs_.find(id);
    if (it == subs_.end()) continue;
    Sub& sub = it->second;
    ev.subscription = id;
    if (sub.session == "*") {
      sub.sink->deliver(ev);
      continue;
    }
    if (!sub.caught_up || sub.next_seq != p.seq) continue;  // replaying from the store
    if (!sub.sink->ready()) {
      sub.caught_up = false;  // resume() will read it back from the store
      continue;
    }
    sub.next_seq = p.seq + 1;
    sub.sink->deliver(ev);
  }
}

uint64_t EventBus::subscribe(const std::string& session, uint64_t from_seq, EventSink* sink,
                             const std::function<void(uint64_t id)>& registered) {
  uint64_t id = next_sub_++;
  subs_[id] = Sub{session, from_seq == 0 ? 1 : from_seq, session == "*", sink};
  by_session_[session].push_back(id);
  if (registered) registered(id);
  if (session != "*") pump(id);
  return id;
}

void EventBus::unsubscribe(uint64_t id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  auto& ids = by_session_[it->second.session];
  ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
  if (ids.empty()) by_session_.erase(it->second.session);
  subs_.erase(it);
}

void EventBus::resume(uint64_t id) {
  auto it = subs_.find(id);
  if (it != subs_.end() && !it->second.caught_up) pump(id);
}

void EventBus::pump(uint64_t id) {
  constexpr size_t kChunk = 256;
  for (;;) {
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    Sub& sub = it->second;
    uint64_t head = committed_.count(sub.session) ? committed_[sub.session] : 0;
    if (sub.next_seq > head) {
      sub.caught_up = true;
      return;
    }
    if (!sub.sink->ready()) return;
    std::string session = sub.session;
    EventSink* sink = sub.sink;
    uint64_t next = sub.next_seq;
    bool paused = false;  // the sink filled up mid-chunk: the rest waits for resume()
    size_t n = store_.read_events(session, next, head, kChunk,
                                  [&](uint64_t seq, int64_t ts, std::string_view kind, std::string_view payload) {
                                    if (paused || (paused = !sink->ready())) return;
                                    next = seq + 1;
                                    sink->deliver(EventView{session, seq, ts, kind, payload, id});
                                  });
    it = subs_.find(id);  // the sink may have gone away during delivery
    if (it == subs_.end()) return;
    it->second.next_seq = next;
    if (n == 0) {  // hole in the store (should not happen): skip ahead rather than spin
      it->second.next_seq = head + 1;
    }
    if (paused) return;
  }
}

}  // namespace ccmux
