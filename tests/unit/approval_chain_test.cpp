#include "approvals/approval_chain.h"
#include "harness.h"

#include <gtest/gtest.h>

using namespace ccmux;
using nlohmann::json;

namespace {
struct Fixture {
  test::TempDir dir;
  EventLoop loop;
  Store store{dir.path + "/db"};
  EventBus bus{store};
  PolicyEngine policies{loop, PolicyEngine::Options{}};
  ApprovalChain chain{loop, store, bus, policies, 3600};
  std::vector<std::pair<ApprovalRow, json>> answered;

  explicit Fixture(const std::string& policy = "") {
    if (!policy.empty()) {
      test::write_file(dir.path + "/p.lua", policy);
      EXPECT_TRUE(policies.load_sync({dir.path + "/p.lua"}).empty());
    }
    chain.set_responder([this](const ApprovalRow& r, const json& in) { answered.emplace_back(r, in); });
  }
  // Opens an approval and lets the policy worker answer (the chain is asynchronous).
  std::string open(const std::string& tool, json input) {
    std::string id = chain.open({"s-1", dir.path, ""}, "req-" + std::to_string(n++),
                                {{"subtype", "can_use_tool"}, {"tool_name", tool}, {"input", input}});
    settle();
    return id;
  }
  void settle() {
    for (int i = 0; i < 4000 && !policies.idle(); ++i) {
      loop.add_timer(0.005, [this] { loop.stop(); });
      loop.run();
    }
  }
  int n = 0;
};
}  // namespace

TEST(ApprovalChain, PolicyAllowAnswersAtOnceWithInputEchoed) {
  Fixture f("function decide(r) if r.tool == 'Read' then return 'allow', 'reads ok' end end");
  std::string id = f.open("Read", {{"file_path", "/x"}});
  ASSERT_EQ(f.answered.size(), 1u);
  EXPECT_EQ(f.answered[0].first.decision, "allow");
  EXPECT_EQ(f.answered[0].first.decided_by, "policy:" + f.dir.path + "/p.lua");
  EXPECT_EQ(f.answered[0].second, json({{"file_path", "/x"}}));
  auto row = f.store.get_approval(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, "resolved");
  EXPECT_EQ(row->reason, "reads ok");
}

TEST(ApprovalChain, LuaDenyIsNeverOverriddenByProviders) {
  Fixture f("function decide(r) return 'deny', 'no' end");
  bool asked = false;
  f.chain.add_provider("always-allow", [&](const std::string&) {
    asked = true;
    return std::optional<ProviderVerdict>(ProviderVerdict{"allow", "yes", nullptr});
  });
  f.open("Bash", {{"command", "ls"}});
  EXPECT_FALSE(asked);
  ASSERT_EQ(f.answered.size(), 1u);
  EXPECT_EQ(f.answered[0].first.decision, "deny");
}

TEST(ApprovalChain, ProvidersComeAfterPoliciesInRegistrationOrder) {
  Fixture f("function decide(r) return 'ask' end");
  std::vector<std::string> order;
  f.chain.add_provider("first", [&](const std::string& req) {
    order.push_back("first");
    json r = json::parse(req);
    EXPECT_EQ(r["tool"], "Bash");
    // The policy ran before any provider: its verdict is in the request providers see.
    EXPECT_EQ(r["policy"]["decision"], "ask");
    EXPECT_EQ(r["policy"]["by"], "policy:" + f.dir.path + "/p.lua");
    return std::optional<ProviderVerdict>();
  });
  f.chain.add_provider("second", [&](const std::string&) {
    order.push_back("second");
    return std::optional<ProviderVerdict>(ProviderVerdict{"allow", "learned", nullptr});
  });
  f.chain.add_provider("third", [&](const std::string&) {
    order.push_back("third");
    return std::optional<ProviderVerdict>();
  });
  f.open("Bash", {{"command", "git status"}});
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  ASSERT_EQ(f.answered.size(), 1u);
  EXPECT_EQ(f.answered[0].first.decided_by, "provider:second");
}

TEST(ApprovalChain, AskIsPublishedAndFirstAnswerWinsLaterOnesAreAlreadyResolved) {
  Fixture f;
  std::vector<std::string> channel;
  f.chain.add_channel("test", [&](const std::string& m) { channel.push_back(json::parse(m)["type"]); });
  std::string id = f.open("Bash", {{"command", "make"}});
  EXPECT_TRUE(f.answered.empty());
  EXPECT_EQ(f.chain.pending_json().size(), 1u);
  EXPECT_EQ(channel, std::vector<std::string>{"approval_requested"});
  auto first = f.chain.answer(id, "allow", "", nullptr, nullptr, "phone");
  EXPECT_EQ(first.outcome, ApprovalChain::Outcome::resolved);
  auto second = f.chain.answer(id, "deny", "too late", nullptr, nullptr, "terminal");
  EXPECT_EQ(second.outcome, ApprovalChain::Outcome::already_resolved);
  EXPECT_NE(second.message.find("allow by phone"), std::string::npos);
  ASSERT_EQ(f.answered.size(), 1u);
  EXPECT_EQ(f.answered[0].first.decision, "allow");
  EXPECT_EQ(channel.back(), "approval_resolved");
  EXPECT_EQ(f.chain.answer("a-nope", "allow", "", nullptr, nullptr, "x").outcome, ApprovalChain::Outcome::not_found);
}

TEST(ApprovalChain, EveryApprovalEndsInOneResolvedEventStoredBeforeClaudeHears) {
  Fixture f;
  std::string id = f.open("Bash", {{"command", "make"}});
  f.chain.answer(id, "deny", "nope", nullptr, nullptr, "cli");
  std::vector<std::string> kinds;
  f.store.read_events("s-1", 1, 100, 100, [&](uint64_t, int64_t, std::string_view k, std::string_view) { kinds.emplace_back(k); });
  EXPECT_EQ(kinds, (std::vector<std::string>{"approval_requested", "approval_resolved"}));
}

TEST(ApprovalChain, NoAnswerWithinTimeoutDenies) {
  Fixture f;
  f.chain.set_timeout(0.2);
  std::string id = f.open("Bash", {{"command", "make"}});
  f.loop.add_timer(2.0, [&] { f.loop.stop(); });
  f.loop.add_timer(0.05, [&] {
    f.loop.add_timer(0.5, [&] { f.loop.stop(); });
  });
  f.loop.run();
  ASSERT_EQ(f.answered.size(), 1u);
  EXPECT_EQ(f.answered[0].first.decision, "deny");
  EXPECT_EQ(f.answered[0].first.decided_by, "timeout");
  EXPECT_NE(f.answered[0].first.reason.find("No answer within"), std::string::npos);
  EXPECT_EQ(f.store.get_approval(id)->decided_by, "timeout");
}

TEST(ApprovalChain, QuestionsSkipPoliciesAndNeedAnswers) {
  Fixture f("function decide(r) return 'allow' end");
  json input = {{"questions", {{{"question", "Which color?"}, {"options", {{{"label", "red"}}, {{"label", "blue"}}}}}}}};
  std::string id = f.open("AskUserQuestion", input);
  EXPECT_TRUE(f.answered.empty()) << "a question is never decided by a policy";
  EXPECT_EQ(f.chain.answer(id, "allow", "", nullptr, nullptr, "x").outcome, ApprovalChain::Outcome::invalid);
  auto r = f.chain.answer(id, "allow", "", nullptr, {{"Which color?", "blue"}}, "phone");
  EXPECT_EQ(r.outcome, ApprovalChain::Outcome::resolved);
  ASSERT_EQ(f.answered.size(), 1u);
  EXPECT_EQ(f.answered[0].second["answers"]["Which color?"], "blue");
  EXPECT_EQ(f.answered[0].second["questions"], input["questions"]);
}

TEST(ApprovalChain, CancelClosesWithoutAnsweringClaude) {
  Fixture f;
  f.open("Bash", {{"command", "a"}});
  f.open("Bash", {{"command", "b"}});
  f.chain.cancel("s-1", "req-0", "withdrawn");
  EXPECT_EQ(f.chain.pending_count(), 1u);
  f.chain.cancel("s-1", "", "process ended");
  EXPECT_EQ(f.chain.pending_count(), 0u);
  EXPECT_TRUE(f.answered.empty());
}

TEST(ApprovalChain, StalePendingApprovalsAreClosedAfterRestart) {
  Fixture f;
  std::string id = f.open("Bash", {{"command", "a"}});
  f.bus.flush();
  PolicyEngine p{f.loop, PolicyEngine::Options{}};
  ApprovalChain after(f.loop, f.store, f.bus, p, 3600);
  after.restore_after_restart({});
  auto row = f.store.get_approval(id);
  EXPECT_EQ(row->state, "resolved");
  EXPECT_EQ(row->decision, "cancelled");
}

TEST(ApprovalChain, AProviderCannotAllowWhenAPolicyFailed) {
  Fixture f("function decide(r) error('policy bug') end");
  f.chain.add_provider("always-allow", [&](const std::string&) {
    return std::optional<ProviderVerdict>(ProviderVerdict{"allow", "trust", nullptr});
  });
  std::string id = f.open("Bash", {{"command", "rm -rf /"}});
  EXPECT_TRUE(f.answered.empty()) << "a failing policy must not let a provider open the gate";
  ASSERT_EQ(f.chain.pending_count(), 1u);
  json pending = f.chain.pending_json()[0];
  EXPECT_NE(pending["policy"]["error"].get<std::string>().find("policy bug"), std::string::npos) << pending.dump();
  EXPECT_NE(pending["hints"][0]["reason"].get<std::string>().find("a policy failed"), std::string::npos) << pending.dump();
  // A provider may still deny.
  Fixture g("function decide(r) error('policy bug') end");
  g.chain.add_provider("deny", [&](const std::string&) {
    return std::optional<ProviderVerdict>(ProviderVerdict{"deny", "no", nullptr});
  });
  g.open("Bash", {{"command", "x"}});
  ASSERT_EQ(g.answered.size(), 1u);
  EXPECT_EQ(g.answered[0].first.decision, "deny");
}

TEST(ApprovalChain, TooDeepToolInputIsAskedWithTheReasonRecorded) {
  Fixture f("function decide(r) return 'allow' end");
  json deep = "x";
  for (int i = 0; i < 200; ++i) {
    json outer = json::object();
    outer["a"] = std::move(deep);
    deep = std::move(outer);
  }
  std::string id = f.open("mcp__x__y", {{"n", deep}});
  EXPECT_TRUE(f.answered.empty());
  ASSERT_EQ(f.chain.pending_count(), 1u);
  auto row = f.store.get_approval(id);
  ASSERT_TRUE(row);
  json req = json::parse(row->request);
  EXPECT_EQ(req["policy"]["decision"], "ask");
  EXPECT_EQ(req["policy"]["by"], "ccmux");
  EXPECT_NE(req["policy"]["reason"].get<std::string>().find("nested deeper than 64"), std::string::npos);
}

TEST(ApprovalChain, CancelWhileThePoliciesDecideIsRecordedAndClaudeIsNotAnswered) {
  Fixture f;
  // A slow (but legal) script, so the cancel arrives while it runs in the worker.
  test::write_file(f.dir.path + "/slow.lua", "function decide(r) local x = 0 for i = 1, 3e7 do x = x + i end return 'allow' end");
  PolicyEngine::Options o;
  o.limits.instructions = 2'000'000'000;
  o.timeout_s = 30;
  PolicyEngine slow(f.loop, o);
  ASSERT_TRUE(slow.load_sync({f.dir.path + "/slow.lua"}).empty());
  ApprovalChain chain(f.loop, f.store, f.bus, slow, 3600);
  std::vector<ApprovalRow> answered;
  chain.set_responder([&](const ApprovalRow& r, const json&) { answered.push_back(r); });
  std::string id = chain.open({"s-1", f.dir.path, ""}, "req-x", {{"tool_name", "Bash"}, {"input", {{"command", "ls"}}}});
  EXPECT_TRUE(chain.has_pending("s-1")) << "deciding counts as pending (the session is not parked meanwhile)";
  chain.cancel("s-1", "req-x", "claude withdrew the request");
  EXPECT_FALSE(chain.has_pending("s-1"));
  while (!slow.idle()) {
    f.loop.add_timer(0.01, [&] { f.loop.stop(); });
    f.loop.run();
  }
  EXPECT_TRUE(answered.empty()) << "the policy's late allow must not reach claude";
  auto row = f.store.get_approval(id);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->decision, "cancelled");
  EXPECT_EQ(row->reason, "claude withdrew the request");
}

TEST(ApprovalChain, UnaskedIsCalledInsteadOfPublishingWhenNobodyDecides) {
  Fixture f("function decide(r) return 'ask' end");
  bool unasked = false;
  f.chain.open({"s-1", f.dir.path, ""}, "hook:1", {{"tool_name", "Bash"}, {"input", {{"command", "make"}}}},
               [&] { unasked = true; });
  f.settle();
  EXPECT_TRUE(unasked);
  EXPECT_EQ(f.chain.pending_count(), 0u);
  EXPECT_FALSE(f.chain.has_pending("s-1"));
}
