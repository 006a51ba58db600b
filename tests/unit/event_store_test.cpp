#include "harness.h"
#include "storage/event_bus.h"
#include "storage/store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sys/resource.h>
#include <thread>

using namespace ccmux;

namespace {
struct Collect : EventSink {
  Store* store = nullptr;
  std::vector<uint64_t> seqs;
  std::vector<std::string> payloads;
  std::vector<std::string> sessions;
  bool is_ready = true;
  bool stored_before_delivery = true;
  bool ready() const override { return is_ready; }
  void deliver(const EventView& ev) override {
    seqs.push_back(ev.seq);
    payloads.emplace_back(ev.payload);
    sessions.emplace_back(ev.session);
    if (store) {  // the event must already be committed: a second connection sees it
      sqlite3* db = nullptr;
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE session=? AND seq=?", -1, &st, nullptr);
      std::string s(ev.session);
      sqlite3_bind_text(st, 1, s.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(st, 2, static_cast<int64_t>(ev.seq));
      sqlite3_step(st);
      if (sqlite3_column_int(st, 0) != 1) stored_before_delivery = false;
      sqlite3_finalize(st);
      sqlite3_close(db);
    }
  }
  std::string path;
};

std::vector<uint64_t> range(uint64_t a, uint64_t b) {
  std::vector<uint64_t> v;
  for (uint64_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}
// A payload naming its session and seq, so a delivery can be checked byte for byte.
std::string body(const std::string& session, uint64_t seq) {
  return "{\"session\":\"" + session + "\",\"n\":" + std::to_string(seq) + "}";
}
std::vector<std::string> bodies(const std::string& session, uint64_t a, uint64_t b) {
  std::vector<std::string> v;
  for (uint64_t i = a; i <= b; ++i) v.push_back(body(session, i));
  return v;
}
}  // namespace

TEST(EventStore, SchemaVersionIsSetByMigrations) {
  test::TempDir t;
  Store s(t.path + "/db");
  EXPECT_EQ(s.schema_version(), Store::kSchemaVersion);
}

TEST(EventStore, RefusesANewerSchema) {
  test::TempDir t;
  { Store s(t.path + "/db"); }
  sqlite3* db;
  sqlite3_open((t.path + "/db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_THROW(Store(t.path + "/db"), std::runtime_error);
  // A refused store lets go of its file: no descriptor of this process still points at it
  // (the connection leaked before: its destructor never ran).
  int open_on_db = 0;
  for (auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(fd.path(), ec);
    if (!ec && target.string().rfind(t.path + "/db", 0) == 0) ++open_on_db;
  }
  EXPECT_EQ(open_on_db, 0);
}

TEST(EventBus, SeqStrictlyIncreasesPerSessionAndEventsAreStoredBeforeDelivery) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  Collect a;
  a.store = &store;
  a.path = t.path + "/db";
  bus.subscribe("s-a", 1, &a);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(bus.publish("s-a", "k", "{\"i\":" + std::to_string(i) + "}"), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(bus.publish("s-b", "k", "{}"), static_cast<uint64_t>(i + 1));
  }
  EXPECT_TRUE(a.seqs.empty()) << "nothing is delivered before the batch commits";
  bus.flush();
  EXPECT_EQ(a.seqs, range(1, 5));
  EXPECT_TRUE(a.stored_before_delivery);
  EXPECT_EQ(a.payloads[3], "{\"i\":3}");
}

TEST(EventBus, SubscribeFromSeqGetsStoredTailThenLiveWithNoGapOrDuplicate) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  // Each event says which it is (and "other" interleaves its own): a replay that hands out
  // the right number of events with the wrong bodies, or another session's, fails here.
  for (uint64_t i = 1; i <= 1000; ++i) {
    bus.publish("s", "k", body("s", i));
    bus.publish("other", "k", body("other", i));
  }
  bus.flush();
  Collect c;
  bus.subscribe("s", 250, &c);
  EXPECT_EQ(c.seqs, range(250, 1000));
  EXPECT_EQ(c.payloads, bodies("s", 250, 1000));
  for (uint64_t i = 1001; i <= 1010; ++i) bus.publish("s", "k", body("s", i));
  bus.flush();
  EXPECT_EQ(c.seqs, range(250, 1010));
  EXPECT_EQ(c.payloads, bodies("s", 250, 1010));
  EXPECT_EQ(c.sessions, std::vector<std::string>(c.seqs.size(), "s"));
}

TEST(EventBus, SlowSubscriberIsFedFromTheStoreWithoutGaps) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  Collect fast, slow;
  bus.subscribe("s", 1, &fast);
  uint64_t slow_id = bus.subscribe("s", 1, &slow);
  uint64_t n = 0;
  for (int round = 0; round < 20; ++round) {
    slow.is_ready = round % 3 == 0;  // stalls two rounds out of three
    for (int i = 0; i < 50; ++i) bus.publish("s", "k", body("s", ++n));
    bus.flush();
    if (slow.is_ready) bus.resume(slow_id);
  }
  slow.is_ready = true;
  bus.resume(slow_id);
  EXPECT_EQ(fast.seqs, range(1, 1000));
  EXPECT_EQ(fast.payloads, bodies("s", 1, 1000));
  EXPECT_EQ(slow.seqs, range(1, 1000));
  EXPECT_EQ(slow.payloads, bodies("s", 1, 1000));
}

TEST(EventBus, ReopenedStoreKeepsEventsAndSeqContinues) {
  test::TempDir t;
  {
    Store store(t.path + "/db");
    EventBus bus(store);
    SessionRow row;
    row.id = "s";
    row.cwd = "/";
    row.claude_session_id = "x";
    row.state = "idle";
    store.upsert_session(row);
    for (int i = 0; i < 7; ++i) bus.publish("s", "k", "{}");
    bus.flush();
  }
  Store store(t.path + "/db");
  auto sessions = store.load_sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].last_seq, 7u);
  EventBus bus(store);
  bus.set_head("s", sessions[0].last_seq);
  EXPECT_EQ(bus.publish("s", "k", "{}"), 8u);
}

TEST(EventBus, WildcardSubscriberSeesEverySessionLive) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  bus.publish("old", "k", "{}");
  bus.flush();
  Collect all;
  bus.subscribe("*", 0, &all);
  bus.publish("a", "k", body("a", 1));
  bus.publish("b", "k", body("b", 1));
  bus.flush();
  EXPECT_EQ(all.sessions, (std::vector<std::string>{"a", "b"})) << "live only: nothing of \"old\"";
  EXPECT_EQ(all.seqs, (std::vector<uint64_t>{1, 1}));
  EXPECT_EQ(all.payloads, (std::vector<std::string>{body("a", 1), body("b", 1)}));
}

TEST(EventStore, WalIsCheckpointedInTheBackgroundWhileTheStoreIsOpen) {
  test::TempDir t;
  std::string path = t.path + "/db";
  Store store(path);
  EventBus bus(store);
  std::string payload(400, 'x');
  for (int batch = 0; batch < 20; ++batch) {  // ~8 MB of WAL frames, in 20 commits
    for (int i = 0; i < 1000; ++i) bus.publish("s", "k", payload);
    bus.flush();
  }
  uintmax_t size = 0;
  for (int i = 0; i < 100 && size < (4u << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    size = std::filesystem::file_size(path);
  }
  EXPECT_GE(size, 4u << 20) << "the main database file never received the WAL's pages";
}

TEST(EventBus, EventsPublishedDuringDeliveryGoOutInTheSameFlush) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  struct Echo : EventSink {
    EventBus* bus;
    std::vector<std::string> kinds;
    void deliver(const EventView& ev) override {
      kinds.emplace_back(ev.kind);
      if (ev.kind == "ping") bus->publish("s", "pong", "{}");
    }
  } echo;
  echo.bus = &bus;
  bus.subscribe("s", 1, &echo);
  bus.publish("s", "ping", "{}");
  bus.flush();
  EXPECT_EQ(echo.kinds, (std::vector<std::string>{"ping", "pong"}));
  EXPECT_EQ(bus.pending(), 0u);
}

// ---- Sinks that re-enter the bus from deliver(): what a plugin's callback or a protocol
// client's output may do (unsubscribe, close the client, subscribe, resume). ----
namespace {
// Publishes n events of `session` with payloads body(session, i), padded to `pad` bytes.
void fill(EventBus& bus, const std::string& session, uint64_t n, size_t pad = 0) {
  for (uint64_t i = 1; i <= n; ++i) bus.publish(session, "k", body(session, i) + std::string(pad, ' '));
  bus.flush();
}

// Subscribes without replaying (not ready yet), so the test knows the id before the replay.
uint64_t subscribe_paused(EventBus& bus, const std::string& session, Collect& sink) {
  sink.is_ready = false;
  uint64_t id = bus.subscribe(session, 1, &sink);
  sink.is_ready = true;
  return id;
}
}  // namespace

TEST(EventBus, UnsubscribingDuringReplayStopsTheReplayAtOnce) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  fill(bus, "s", 10);
  struct Quitter : Collect {
    EventBus* bus = nullptr;
    uint64_t id = 0;
    void deliver(const EventView& ev) override {
      Collect::deliver(ev);
      if (seqs.size() == 3) bus->unsubscribe(id);
    }
  } q;
  q.bus = &bus;
  q.id = subscribe_paused(bus, "s", q);
  bus.resume(q.id);
  EXPECT_EQ(q.seqs, range(1, 3)) << "events delivered after the sink unsubscribed";
  fill(bus, "s", 2);
  EXPECT_EQ(q.seqs, range(1, 3));
  EXPECT_EQ(bus.subscriber_count(), 0u);
}

TEST(EventBus, SinkThatUnsubscribesAndDestroysItselfDuringReplayIsNeverTouchedAgain) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  fill(bus, "s", 10);
  // Like a plugin's PluginSink erased by its unsubscribe() from inside its own callback.
  struct Doomed : Collect {
    EventBus* bus = nullptr;
    uint64_t id = 0;
    int* delivered = nullptr;
    void deliver(const EventView&) override {
      ++*delivered;
      bus->unsubscribe(id);
      delete this;
    }
  };
  int delivered = 0;
  auto* d = new Doomed;
  d->bus = &bus;
  d->delivered = &delivered;
  d->id = subscribe_paused(bus, "s", *d);
  bus.resume(d->id);  // under ASan, a use of the freed sink is a heap-use-after-free
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(bus.subscriber_count(), 0u);
}

TEST(EventBus, SinkDestroyedWithoutUnsubscribingIsDroppedNotUsed) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  fill(bus, "s", 10);
  // Like a protocol client closed from inside the replay of a subscription whose id it has
  // not learnt yet: it cannot unsubscribe, it just goes away.
  struct Vanishing : EventSink {
    int* delivered = nullptr;
    void deliver(const EventView&) override {
      ++*delivered;
      delete this;
    }
  };
  int replayed = 0, live = 0;
  auto* during_replay = new Vanishing;
  during_replay->delivered = &replayed;
  bus.subscribe("s", 1, during_replay);
  EXPECT_EQ(replayed, 1);
  auto* during_live = new Vanishing;
  during_live->delivered = &live;
  bus.subscribe("s", 11, during_live);
  fill(bus, "s", 3);
  EXPECT_EQ(replayed, 1);
  EXPECT_EQ(live, 1);
  EXPECT_EQ(bus.subscriber_count(), 0u) << "a destroyed sink is dropped the next time the bus would use it";
}

TEST(EventBus, SinkThatSubscribesDuringItsReplayKeepsAnIntactStream) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  // Payloads larger than a page: SQLite hands them out from a buffer the statement owns.
  const size_t pad = 6000;
  fill(bus, "a", 5, pad);
  fill(bus, "b", 5, pad);
  Collect b_sink;
  struct Opener : Collect {
    EventBus* bus = nullptr;
    Collect* other = nullptr;
    void deliver(const EventView& ev) override {
      if (seqs.empty()) bus->subscribe("b", 1, other);  // replays "b" from inside this delivery
      Collect::deliver(ev);                             // reads ev afterwards
    }
  } a_sink;
  a_sink.bus = &bus;
  a_sink.other = &b_sink;
  bus.subscribe("a", 1, &a_sink);
  std::vector<std::string> want_a, want_b;
  for (auto& p : bodies("a", 1, 5)) want_a.push_back(p + std::string(pad, ' '));
  for (auto& p : bodies("b", 1, 5)) want_b.push_back(p + std::string(pad, ' '));
  EXPECT_EQ(a_sink.seqs, range(1, 5));
  EXPECT_TRUE(a_sink.payloads == want_a) << "the replay of \"a\" was disturbed by the nested one of \"b\"";
  EXPECT_EQ(a_sink.sessions, std::vector<std::string>(5, "a"));
  EXPECT_EQ(b_sink.seqs, range(1, 5));
  EXPECT_TRUE(b_sink.payloads == want_b);
}

TEST(EventBus, ResumeFromInsideTheReplayDeliversNothingTwice) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  fill(bus, "s", 20);
  // Like a transport that marks its client ready again from inside a message callback.
  struct Resumer : Collect {
    EventBus* bus = nullptr;
    uint64_t id = 0;
    void deliver(const EventView& ev) override {
      Collect::deliver(ev);
      if (ev.seq == 2) bus->resume(id);
    }
  } r;
  r.bus = &bus;
  r.id = subscribe_paused(bus, "s", r);
  bus.resume(r.id);
  EXPECT_EQ(r.seqs, range(1, 20));
  EXPECT_EQ(r.payloads, bodies("s", 1, 20));
  fill(bus, "s", 1);
  EXPECT_EQ(r.seqs, range(1, 21));
}

TEST(EventBus, LiveDeliveryToleratesSinksLeavingAndDestroyingEachOther) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  struct Killer : Collect {
    EventBus* bus = nullptr;
    uint64_t own = 0, victim_id = 0;
    Collect* victim = nullptr;
    void deliver(const EventView& ev) override {
      Collect::deliver(ev);
      if (victim) {  // the next sink in line goes away before it is reached
        bus->unsubscribe(victim_id);
        delete victim;
        victim = nullptr;
      }
      if (ev.seq == 2) bus->unsubscribe(own);
    }
  } killer;
  auto* victim = new Collect;
  Collect after;
  killer.bus = &bus;
  killer.own = bus.subscribe("s", 1, &killer);
  killer.victim_id = bus.subscribe("s", 1, victim);
  killer.victim = victim;
  uint64_t after_id = bus.subscribe("*", 0, &after);
  fill(bus, "s", 3);
  EXPECT_EQ(killer.seqs, range(1, 2));
  EXPECT_EQ(after.seqs, range(1, 3));
  bus.unsubscribe(after_id);
  EXPECT_EQ(bus.subscriber_count(), 0u);
}

namespace {
// Closes a store whose last COMMIT cannot be written (a file size limit under the WAL's size).
void close_store_with_a_failing_commit(const std::string& path) {
  signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
  {
    Store store(path);
    store.append_event("s", 1, 0, "k", std::string(512 << 10, 'x'));  // in the open transaction
    auto wal = static_cast<rlim_t>(std::filesystem::file_size(path + "-wal"));
    rlimit limit{wal, wal};
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  std::exit(0);
}
}  // namespace

TEST(EventStore, ClosingWhenTheLastCommitFailsDoesNotTerminate) {
  test::TempDir t;
  // In a child process: the limit cannot be raised again.
  EXPECT_EXIT(close_store_with_a_failing_commit(t.path + "/db"), ::testing::ExitedWithCode(0), "");
}

TEST(EventBus, ASinkThatThrowsCostsOnlyItsOwnEvent) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  struct Thrower : Collect {
    void deliver(const EventView& ev) override {
      Collect::deliver(ev);
      if (ev.seq == 2) throw std::runtime_error("sink failed");
    }
  } live, replayed;
  Collect other;
  bus.subscribe("s", 1, &live);
  bus.subscribe("s", 1, &other);
  EXPECT_NO_THROW(fill(bus, "s", 4));
  EXPECT_EQ(live.seqs, range(1, 4)) << "the bus stopped feeding a sink after one of its deliveries failed";
  EXPECT_EQ(other.seqs, range(1, 4)) << "a sink lost events because another one threw";
  EXPECT_NO_THROW(bus.subscribe("s", 1, &replayed));
  EXPECT_EQ(replayed.seqs, range(1, 4));
  EXPECT_NO_THROW(fill(bus, "s", 1));
  EXPECT_EQ(other.seqs, range(1, 5)) << "the bus is wedged after a delivery threw";
}
