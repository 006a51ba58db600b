#include "storage/event_bus.h"

#include "util.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace ccmux {

namespace {
// A sink that throws loses that one event; the other sinks, the rest of the batch and its
// own later events go on.
void hand_to(uint64_t id, EventSink* sink, const EventView& ev) {
  try {
    sink->deliver(ev);
  } catch (const std::exception& e) {
    spdlog::error("event bus: delivering {} #{} to subscription {} failed: {}", ev.session, ev.seq, id, e.what());
  }
}
}  // namespace

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
  if (pending_.size() >= 4096 && !flushing_ && defer_ == 0) flush();  // bound memory on a firehose
  return seq;
}

EventBus::Defer::~Defer() {
  if (--bus_.defer_ > 0 || !bus_.flush_wanted_) return;
  bus_.flush_wanted_ = false;
  try {
    bus_.flush();
  } catch (const std::exception& e) {  // the loop's next flush tries again
    bus_.flush_wanted_ = true;
    spdlog::error("event bus: deferred commit failed: {}", e.what());
  }
}

void EventBus::flush() {
  if (defer_ > 0) {
    flush_wanted_ = true;
    return;
  }
  if (flushing_) {
    // Called from inside a delivery (e.g. a plugin answering an approval from an event
    // callback): commit now so what follows is stored; delivery happens in the outer loop.
    store_.commit();
    return;
  }
  flushing_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }  // also when a commit throws: the next flush must deliver again
  } done{flushing_};
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
}

EventBus::Sub* EventBus::find_live(uint64_t id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return nullptr;
  if (it->second.alive.expired()) {  // destroyed without unsubscribing: drop, never dereference
    unsubscribe(id);
    return nullptr;
  }
  return &it->second;
}

uint64_t EventBus::committed(const std::string& session) const {
  auto it = committed_.find(session);
  return it == committed_.end() ? 0 : it->second;
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
    // Looked up afresh for each sink: an earlier one may have removed or destroyed it.
    Sub* sub = find_live(id);
    if (!sub) continue;
    ev.subscription = id;
    if (sub->session == "*") {
      hand_to(id, sub->sink, ev);
      continue;
    }
    if (!sub->caught_up || sub->next_seq != p.seq) continue;  // replaying from the store
    if (!sub->sink->ready()) {
      sub->caught_up = false;  // resume() will read it back from the store
      continue;
    }
    sub->next_seq = p.seq + 1;
    hand_to(id, sub->sink, ev);  // `sub` may dangle from here on
  }
}

uint64_t EventBus::subscribe(const std::string& session, uint64_t from_seq, EventSink* sink,
                             const std::function<void(uint64_t id)>& registered) {
  uint64_t id = next_sub_++;
  subs_[id] = Sub{session, from_seq == 0 ? 1 : from_seq, session == "*", sink, sink->alive_};
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
  Sub* sub = find_live(id);
  if (sub && !sub->caught_up) pump(id);
}

void EventBus::pump(uint64_t id) {
  constexpr size_t kChunk = 256;
  constexpr size_t kChunkBytes = 4 << 20;  // copied per read: big events make smaller chunks
  size_t limit = kChunk;
  struct Stored {
    uint64_t seq;
    int64_t ts_ms;
    std::string kind, payload;
  };
  std::vector<Stored> chunk;
  for (;;) {
    Sub* sub = find_live(id);
    if (!sub) return;
    uint64_t head = committed(sub->session);
    if (sub->next_seq > head) {
      sub->caught_up = true;
      return;
    }
    if (!sub->sink->ready()) return;
    const std::string session = sub->session;
    // Read the whole chunk before delivering any of it: a sink that subscribes or resumes
    // from deliver() re-enters this function, which reuses the store's one statement.
    chunk.clear();
    size_t bytes = 0;
    size_t read = store_.read_events(session, sub->next_seq, head, limit,
                                     [&](uint64_t seq, int64_t ts, std::string_view kind, std::string_view payload) {
                                       if (bytes >= kChunkBytes) return;  // the rest is read again next time
                                       // Stored before the cap (or under a larger one): cut on the way
                                       // out, so that a replay never fails on it.
                                       std::string p = cap_ && cap_->over(payload)
                                                           ? EventCap::shrink(payload, cap_->limit(), "", "")
                                                           : std::string(payload);
                                       bytes += p.size();
                                       chunk.push_back({seq, ts, std::string(kind), std::move(p)});
                                     });
    if (chunk.empty()) {  // hole in the store (should not happen): skip ahead rather than spin
      sub->next_seq = head + 1;
      continue;
    }
    limit = chunk.size() < read ? chunk.size() : std::min(kChunk, limit * 2);
    for (const Stored& e : chunk) {
      // Every delivery may have unsubscribed or destroyed the sink, or (a nested resume)
      // delivered further already: look it up again and go by its current next_seq.
      sub = find_live(id);
      if (!sub) return;
      if (e.seq < sub->next_seq) continue;
      if (!sub->sink->ready()) return;  // the rest waits for resume()
      sub->next_seq = e.seq + 1;
      hand_to(id, sub->sink, EventView{session, e.seq, e.ts_ms, e.kind, e.payload, id});
    }
  }
}

}  // namespace ccmux
