// Issue 10 item 6: session and approval ids are 8 random hex digits; a collision must draw
// again, never overwrite the older row (an audit record). The random part is injected here.
#include "approvals/approval_chain.h"
#include "harness.h"
#include "sessions/supervisor.h"
#include "util.h"

#include <gtest/gtest.h>

#include <deque>

using namespace ccmux;
using nlohmann::json;

namespace {
// Hands out the given random parts in order, then the OS source again.
struct ScriptedIds {
  explicit ScriptedIds(std::deque<std::string> ids) : ids_(std::make_shared<std::deque<std::string>>(std::move(ids))) {
    auto q = ids_;
    set_id_source_for_tests([q] {
      if (q->empty()) return random_hex(4);
      std::string id = q->front();
      q->pop_front();
      return id;
    });
  }
  ~ScriptedIds() { set_id_source_for_tests({}); }
  std::shared_ptr<std::deque<std::string>> ids_;
};

struct Parts {
  test::TempDir dir;
  EventLoop loop;
  Store store{dir.path + "/db"};
  EventBus bus{store};
  PolicyEngine policies{loop, PolicyEngine::Options{}};
  ApprovalChain chain{loop, store, bus, policies, 3600};
  // The chain is asynchronous: lets the policy worker answer.
  void settle() {
    for (int i = 0; i < 4000 && !policies.idle(); ++i) {
      loop.add_timer(0.005, [this] { loop.stop(); });
      loop.run();
    }
  }
};
}  // namespace

TEST(Ids, ANewSessionWhoseIdIsTakenDrawsAgainAndTheOlderRowSurvives) {
  Parts p;
  SupervisorOptions o;
  o.claude_path = "/bin/false";
  o.project_roots = {p.dir.path};
  Supervisor sup(p.loop, p.store, p.bus, p.chain, o);
  ScriptedIds ids({"0000aaaa", "0000aaaa", "0000bbbb"});
  std::string first = sup.observe("claude-one", p.dir.path, "default");
  std::string second = sup.observe("claude-two", p.dir.path, "default");
  EXPECT_EQ(first, "s-0000aaaa");
  EXPECT_EQ(second, "s-0000bbbb");
  p.bus.flush();
  std::map<std::string, std::string> rows;
  for (auto& r : p.store.load_sessions()) rows[r.id] = r.claude_session_id;
  EXPECT_EQ(rows, (std::map<std::string, std::string>{{"s-0000aaaa", "claude-one"}, {"s-0000bbbb", "claude-two"}}));
  EXPECT_EQ(sup.info(first)["claude_session_id"], "claude-one");
}

TEST(Ids, ANewApprovalWhoseIdIsTakenDrawsAgainAndTheOlderAuditRowSurvives) {
  Parts p;
  test::write_file(p.dir.path + "/deny.lua", "function decide(r) return 'deny', 'no ' .. r.tool end");
  ASSERT_TRUE(p.policies.load_sync({p.dir.path + "/deny.lua"}).empty());
  p.chain.set_responder([](const ApprovalRow&, const json&) {});
  ScriptedIds ids({"0000cccc", "0000cccc", "0000dddd"});
  std::string a = p.chain.open({"s-1", p.dir.path, ""}, "req-1", {{"tool_name", "Read"}, {"input", json::object()}});
  p.settle();
  std::string b = p.chain.open({"s-1", p.dir.path, ""}, "req-2", {{"tool_name", "Bash"}, {"input", json::object()}});
  p.settle();
  EXPECT_EQ(a, "a-0000cccc");
  EXPECT_EQ(b, "a-0000dddd");
  auto older = p.store.get_approval("a-0000cccc");
  ASSERT_TRUE(older);
  EXPECT_EQ(older->tool, "Read");
  EXPECT_EQ(older->reason, "no Read");
  EXPECT_EQ(older->claude_request_id, "req-1");
  auto newer = p.store.get_approval("a-0000dddd");
  ASSERT_TRUE(newer);
  EXPECT_EQ(newer->tool, "Bash");
}

TEST(Ids, TheStoreNeverReplacesARowWhenCreatingOne) {
  test::TempDir dir;
  Store store(dir.path + "/db");
  SessionRow row;
  row.id = "s-12345678";
  row.cwd = "/a";
  row.claude_session_id = "one";
  row.state = "idle";
  EXPECT_TRUE(store.insert_session(row));
  row.cwd = "/b";
  row.claude_session_id = "two";
  EXPECT_FALSE(store.insert_session(row));
  store.commit();
  auto rows = store.load_sessions();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].claude_session_id, "one");
  EXPECT_EQ(rows[0].cwd, "/a");

  ApprovalRow a;
  a.id = "a-12345678";
  a.session = "s-1";
  a.claude_request_id = "r1";
  a.tool = "Read";
  a.state = "resolved";
  a.created_ms = 1;
  store.upsert_approval(a);
  ApprovalRow other = a;
  other.claude_request_id = "r2";
  other.tool = "Bash";
  other.created_ms = 2;
  EXPECT_THROW(store.upsert_approval(other), std::runtime_error) << "another approval's row was replaced";
  EXPECT_EQ(store.get_approval("a-12345678")->tool, "Read");
  a.decision = "deny";  // the same approval, later: an update
  store.upsert_approval(a);
  EXPECT_EQ(store.get_approval("a-12345678")->decision, "deny");
}

// With the asynchronous chain an approval is neither pending nor stored while the policy
// worker decides it: its id must still count as taken.
TEST(Ids, ANewApprovalDrawsAgainWhileAnotherWithThatIdIsStillBeingDecided) {
  Parts p;
  test::write_file(p.dir.path + "/deny.lua", "function decide(r) return 'deny', 'no ' .. r.tool end");
  ASSERT_TRUE(p.policies.load_sync({p.dir.path + "/deny.lua"}).empty());
  p.chain.set_responder([](const ApprovalRow&, const json&) {});
  ScriptedIds ids({"0000eeee", "0000eeee", "0000ffff"});
  std::string a = p.chain.open({"s-1", p.dir.path, ""}, "req-1", {{"tool_name", "Read"}, {"input", json::object()}});
  std::string b = p.chain.open({"s-1", p.dir.path, ""}, "req-2", {{"tool_name", "Bash"}, {"input", json::object()}});
  p.settle();
  EXPECT_EQ(a, "a-0000eeee");
  EXPECT_EQ(b, "a-0000ffff");
  auto older = p.store.get_approval("a-0000eeee");
  ASSERT_TRUE(older);
  EXPECT_EQ(older->tool, "Read");
}
