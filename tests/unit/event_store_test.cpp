#include "event_bus.h"
#include "harness.h"
#include "store.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <thread>

using namespace ccmux;

namespace {
struct Collect : EventSink {
  Store* store = nullptr;
  std::vector<uint64_t> seqs;
  std::vector<std::string> payloads;
  bool is_ready = true;
  bool stored_before_delivery = true;
  bool ready() const override { return is_ready; }
  void deliver(const EventView& ev) override {
    seqs.push_back(ev.seq);
    payloads.emplace_back(ev.payload);
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
  for (int i = 0; i < 1000; ++i) bus.publish("s", "k", "{}");
  bus.flush();
  Collect c;
  bus.subscribe("s", 250, &c);
  EXPECT_EQ(c.seqs, range(250, 1000));
  for (int i = 0; i < 10; ++i) bus.publish("s", "k", "{}");
  bus.flush();
  EXPECT_EQ(c.seqs, range(250, 1010));
}

TEST(EventBus, SlowSubscriberIsFedFromTheStoreWithoutGaps) {
  test::TempDir t;
  Store store(t.path + "/db");
  EventBus bus(store);
  Collect fast, slow;
  bus.subscribe("s", 1, &fast);
  uint64_t slow_id = bus.subscribe("s", 1, &slow);
  for (int round = 0; round < 20; ++round) {
    slow.is_ready = round % 3 == 0;  // stalls two rounds out of three
    for (int i = 0; i < 50; ++i) bus.publish("s", "k", "{}");
    bus.flush();
    if (slow.is_ready) bus.resume(slow_id);
  }
  slow.is_ready = true;
  bus.resume(slow_id);
  EXPECT_EQ(fast.seqs, range(1, 1000));
  EXPECT_EQ(slow.seqs, range(1, 1000));
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
  bus.publish("a", "k", "{}");
  bus.publish("b", "k", "{}");
  bus.flush();
  EXPECT_EQ(all.seqs.size(), 2u);
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
