// plugins/telegram against a fake Bot API on 127.0.0.1 (tests/fake_telegram), with the real
// claude CLI asking for the approvals: allow/deny buttons, a stranger ignored, 429 honoured,
// questions as buttons, notifications, commands, and the token never logged.
#include "e2e.h"
#include "ws_client.h"

#include <filesystem>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {
const std::string kToken = "123456:TEST-bot-token-that-must-never-be-logged";
}  // namespace

class TelegramE2E : public E2E {
 protected:
  void SetUp() override { start_with(""); }
  void start_with(const std::string& more_yaml) {
    bot = std::make_unique<ScriptServer>(source_dir() + "/tests/fake_telegram/fake_bot_api.py", std::vector<std::string>{kToken});
    DaemonOptions o;
    o.policies = {policy_file(dir, "none.lua", "function decide(r) end\n")};  // every tool call is asked
    o.extra_yaml = "plugins:\n  - name: telegram\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                   "    api_base: " + bot->base_url() + "\n    bot_token: \"" + kToken + "\"\n" +
                   "    chats: [\"100\"]\n    users: [\"42\"]\n    poll_timeout_s: 1\n" + more_yaml;
    start(o);
    c = daemon->connect();
  }
  json calls() { return json::parse(http_get(bot->port(), "/control/calls").body); }
  // Waits for an API call matching pred; returns it (null on timeout).
  json wait_call(const std::function<bool(const json&)>& pred, int timeout_ms = 30000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      for (auto& call : calls())
        if (pred(call)) return call;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return json();
  }
  json approval_message(const std::string& id) {
    return wait_call([&](const json& k) {
      return k["method"] == "sendMessage" && k["status"] == 200 && k["body"].contains("reply_markup") &&
             k["body"]["reply_markup"].dump().find(id) != std::string::npos;
    });
  }
  void press(int64_t user, int64_t chat, const std::string& data, const std::string& cb = "cb-1") {
    http_post(bot->port(), "/control/update",
              json{{"callback_query",
                    {{"id", cb}, {"from", {{"id", user}, {"username", "alice"}}}, {"message", {{"message_id", 1}, {"chat", {{"id", chat}}}}}, {"data", data}}}}
                  .dump());
  }
  std::string asked(const std::string& prompt, std::string* session = nullptr) {
    std::string id = c->request("session.new", {{"cwd", daemon->project()}, {"prompt", prompt}})["id"];
    if (session) *session = id;
    EventLog log(*c, id);
    EXPECT_TRUE(log.wait_kind("approval_requested"));
    return log.of_kind("approval_requested")[0]["payload"]["id"];
  }
  std::unique_ptr<ScriptServer> bot;
  std::unique_ptr<Client> c;
};

TEST_F(TelegramE2E, AllowButtonAnswersAndTheMessageShowsWhoDecided) {
  std::string session;
  std::string id = asked(bash("touch from-telegram.txt"), &session);
  json msg = approval_message(id);
  ASSERT_FALSE(msg.is_null()) << calls().dump();
  EXPECT_EQ(msg["body"]["chat_id"], 100);
  EXPECT_NE(msg["body"]["text"].get<std::string>().find("$ touch from-telegram.txt"), std::string::npos);
  EXPECT_NE(msg["body"]["reply_markup"].dump().find("Always allow this pattern"), std::string::npos);
  press(42, 100, "a|" + id + "|allow");
  EventLog log(*c, session);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_TRUE(fs::exists(daemon->project() + "/from-telegram.txt"));
  auto r = log.of_kind("approval_resolved")[0]["payload"];
  EXPECT_NE(r["decided_by"].get<std::string>().find("telegram:alice"), std::string::npos) << r.dump();
  json edit = wait_call([](const json& k) { return k["method"] == "editMessageText"; });
  ASSERT_FALSE(edit.is_null());
  EXPECT_EQ(edit["body"]["message_id"], 100);  // the fake numbers messages from 100: the approval's message
  EXPECT_EQ(edit["body"]["chat_id"], 100);
  EXPECT_NE(edit["body"]["text"].get<std::string>().find("✅ Allowed by"), std::string::npos) << edit.dump();
  EXPECT_FALSE(wait_call([](const json& k) { return k["method"] == "answerCallbackQuery" && k["body"]["callback_query_id"] == "cb-1"; }).is_null());
  // The turn's end is announced with its cost.
  EXPECT_FALSE(wait_call([&](const json& k) {
                 return k["method"] == "sendMessage" && k["body"]["text"].get<std::string>().find(session + " turn finished") != std::string::npos;
               }).is_null());
  std::string logtext = daemon->log();
  EXPECT_EQ(logtext.find(kToken), std::string::npos) << "the bot token reached the log";
  EXPECT_EQ(logtext.find("TEST-bot-token"), std::string::npos);
}

TEST_F(TelegramE2E, StrangersAreIgnoredAndDenyWorks) {
  std::string session;
  std::string id = asked(bash("touch never.txt"), &session);
  ASSERT_FALSE(approval_message(id).is_null());
  press(99, 100, "a|" + id + "|allow", "cb-stranger");    // a user not on the list
  press(42, 555, "a|" + id + "|allow", "cb-other-chat");  // the right user in another chat
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(c->request("approvals.list")["approvals"].size(), 1u) << "a stranger's press decided";
  EXPECT_NE(daemon->log().find("ignored a button press by user 99"), std::string::npos);
  press(42, 100, "a|" + id + "|deny", "cb-deny");
  EventLog log(*c, session);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_EQ(log.of_kind("approval_resolved")[0]["payload"]["decision"], "deny");
  EXPECT_FALSE(fs::exists(daemon->project() + "/never.txt"));
  EXPECT_FALSE(wait_call([](const json& k) {
                 return k["method"] == "editMessageText" && k["body"]["text"].get<std::string>().find("❌ Denied") != std::string::npos;
               }).is_null());
}

TEST_F(TelegramE2E, RateLimitIsHonouredAndNothingIsLost) {
  http_post(bot->port(), "/control/fail429", R"({"count":1})");
  std::string id = asked(bash("touch after-429.txt"));
  json ok = approval_message(id);
  ASSERT_FALSE(ok.is_null()) << calls().dump();
  double first = 0;
  for (auto& k : calls())
    if (k["method"] == "sendMessage" && k["status"] == 429 && first == 0) first = k["t"];
  ASSERT_GT(first, 0) << "no 429 was served";
  EXPECT_GE(ok["t"].get<double>() - first, 0.95) << "retried before retry_after";
  EXPECT_NE(daemon->log().find("429"), std::string::npos);
  press(42, 100, "a|" + id + "|allow");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 100 && !fs::exists(daemon->project() + "/after-429.txt"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(fs::exists(daemon->project() + "/after-429.txt"));
}

TEST_F(TelegramE2E, QuestionOptionsAreButtonsAndCommandsWork) {
  json q = {{"questions",
             {{{"question", "Which color?"}, {"header", "Color"}, {"multiSelect", false},
               {"options", {{{"label", "Red"}, {"description", "warm"}}, {{"label", "Blue"}, {"description", "cool"}}}}}}}};
  std::string session;
  std::string id = asked("tool: AskUserQuestion " + q.dump(), &session);
  json msg = approval_message(id);
  ASSERT_FALSE(msg.is_null());
  EXPECT_NE(msg["body"]["reply_markup"].dump().find("\"Blue\""), std::string::npos) << msg.dump();
  press(42, 100, "q|" + id + "|0|1");
  EventLog log(*c, session);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_NE(log.of_kind("result")[0]["payload"].dump().find("Blue"), std::string::npos);
  // /sessions from an allowed user answers with the list; from a stranger, nothing.
  http_post(bot->port(), "/control/update",
            json{{"message", {{"message_id", 5}, {"from", {{"id", 42}}}, {"chat", {{"id", 100}}}, {"text", "/sessions"}}}}.dump());
  EXPECT_FALSE(wait_call([&](const json& k) {
                 return k["method"] == "sendMessage" && k["body"]["text"].get<std::string>().find(session + "  idle") != std::string::npos;
               }).is_null());
  // /approve ID answers a pending approval.
  std::string id2 = asked(bash("touch by-command.txt"));
  http_post(bot->port(), "/control/update",
            json{{"message", {{"message_id", 6}, {"from", {{"id", 42}}}, {"chat", {{"id", 100}}}, {"text", "/approve " + id2}}}}.dump());
  EXPECT_FALSE(wait_call([&](const json& k) {
                 return k["method"] == "sendMessage" && k["body"]["text"] == id2 + ": Allowed";
               }).is_null());
  for (int i = 0; i < 100 && !fs::exists(daemon->project() + "/by-command.txt"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(fs::exists(daemon->project() + "/by-command.txt"));
}

class TelegramWithApprovalE2E : public TelegramE2E {
 protected:
  void SetUp() override {
    start_with("  - name: approval\n    search_dir: " + build_dir() + "/plugins\n    level: 2\n");
  }
};

TEST_F(TelegramWithApprovalE2E, AlwaysAllowTeachesTheApprovalPluginThePattern) {
  std::string session;
  std::string id = asked(bash("touch first.txt"), &session);
  ASSERT_FALSE(approval_message(id).is_null());
  press(42, 100, "a|" + id + "|always", "cb-always");
  EventLog log(*c, session);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_TRUE(fs::exists(daemon->project() + "/first.txt"));
  EXPECT_FALSE(wait_call([](const json& k) {
                 return k["method"] == "answerCallbackQuery" && k["body"]["text"] == "Always allowing Bash:touch";
               }).is_null()) << calls().dump();
  // The next call of the same pattern is approved by the approval plugin, nobody is asked.
  uint64_t next = log.events().back()["seq"].get<uint64_t>() + 1;
  auto c2 = daemon->connect();
  EventLog more(*c2, session, next);
  c2->request("session.send", {{"session", session}, {"prompt", bash("touch second.txt")}});
  ASSERT_TRUE(more.wait_kind("result"));
  EXPECT_TRUE(more.of_kind("approval_requested").empty());
  EXPECT_EQ(more.of_kind("approval_resolved")[0]["payload"]["decided_by"], "provider:approval/learned");
  EXPECT_TRUE(fs::exists(daemon->project() + "/second.txt"));
}
