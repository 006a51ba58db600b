// plugins/approval with the real claude CLI: learning from human answers, thresholds, the
// reset on a denial, compound shell lines never learned, autonomy levels, Lua deny first, and
// the safety holes of issue 10 (a Read through a symlink out of the project, find -delete
// approved by a pattern learned from a harmless find).
#include "e2e.h"

#include <filesystem>
#include <functional>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;


class ApprovalPluginE2E : public E2E {
 protected:
  void SetUp() override {
    DaemonOptions o;
    // Lua first: `touch forbidden*` is denied whatever the plugin has learned or the level is.
    o.policies = {policy_file(dir, "deny.lua",
                              "function decide(r)\n"
                              "  if r.tool == 'Bash' and ccmux.glob(r.input.command, 'touch forbidden*') then\n"
                              "    return 'deny', 'forbidden files stay forbidden' end\n"
                              "end\n")};
    o.extra_yaml = "plugins:\n  - name: approval\n    search_dir: " + build_dir() +
                   "/plugins\n    required: true\n    level: 2\n    min_approvals: 2\n    min_confidence: 0.6\n";
    start(o);
    c = daemon->connect();
    id = c->request("session.new", {{"cwd", daemon->project()}})["id"];
  }

  struct Turn {
    json asked;        // the approval_requested payload, null when nobody was asked
    json resolved;     // the approval_resolved payload, null when claude asked nothing
    std::string text;  // what the model streamed (the fake API echoes the tool result)
  };
  // Sends `prompt`; if a human is asked, `answer` (the test) answers it on `cl`.
  Turn run(const std::string& prompt, const std::function<void(Client& cl, const json& asked)>& answer) {
    auto cl = daemon->connect();  // one subscription per turn
    EventLog log(*cl, id, next_seq);
    cl->request("session.send", {{"session", id}, {"prompt", prompt}});
    EXPECT_TRUE(log.wait_for([](const json& e) {
      return e["kind"] == "approval_requested" || e["kind"] == "approval_resolved" || e["kind"] == "result";
    }));
    Turn t;
    auto asked = log.of_kind("approval_requested");
    if (!asked.empty()) {
      t.asked = asked[0]["payload"];
      answer(*cl, t.asked);
    }
    EXPECT_TRUE(log.wait_kind("result"));
    next_seq = log.events().back()["seq"].get<uint64_t>() + 1;
    auto r = log.of_kind("approval_resolved");
    if (!r.empty()) t.resolved = r.back()["payload"];
    t.text = log.streamed_text();
    return t;
  }
  static std::function<void(Client&, const json&)> answer_with(const std::string& decision) {
    return [decision](Client& cl, const json& asked) {
      auto res = cl.request("approval.answer", {{"id", asked["id"]}, {"decision", decision}, {"by", "test"}});
      EXPECT_EQ(res["status"], "resolved");
    };
  }
  // Runs one Bash call; a human (this test) answers `human` if asked. Returns approval_resolved.
  json turn(const std::string& command, const std::string& human = "allow") {
    return run(bash(command), answer_with(human)).resolved;
  }
  static std::string read_prompt(const std::string& path) { return "tool: Read " + json{{"file_path", path}}.dump(); }
  std::string cli(const std::vector<std::string>& args, int* rc = nullptr) {
    std::vector<std::string> argv = {ccmux_bin(), "--socket", daemon->socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string out;
    int code = run_command(argv, &out);
    if (rc) *rc = code;
    return out;
  }
  static bool by_human(const json& r) { return r.value("decided_by", "").rfind("client:local:", 0) == 0; }
  std::unique_ptr<Client> c;
  std::string id;
  uint64_t next_seq = 1;
};

TEST_F(ApprovalPluginE2E, LearnsFromHumanApprovalsThenApprovesWithEvidence) {
  EXPECT_TRUE(by_human(turn("touch one.txt")));
  EXPECT_TRUE(by_human(turn("touch two.txt")));
  auto third = turn("touch three.txt");  // Bash:touch has 2 approvals, no denial: earned
  EXPECT_EQ(third["decision"], "allow");
  EXPECT_EQ(third["decided_by"], "provider:approval/learned");
  EXPECT_NE(third["reason"].get<std::string>().find("learned Bash:touch: 2 approvals"), std::string::npos) << third.dump();
  EXPECT_EQ(third["request"]["input"]["command"], "touch three.txt");  // the evidence is stored with it
  EXPECT_TRUE(fs::exists(daemon->project() + "/three.txt"));
  std::string listing = cli({"approvals", "--learned"});
  EXPECT_NE(listing.find("AUTO Bash:touch"), std::string::npos) << listing;
  // forget removes it: the next one is asked again.
  EXPECT_NE(cli({"forget", "Bash:touch"}).find("forgot Bash:touch"), std::string::npos);
  EXPECT_TRUE(by_human(turn("touch four.txt")));
}

TEST_F(ApprovalPluginE2E, OneDenialResetsAPatternAndCompoundLinesAreNeverLearned) {
  EXPECT_TRUE(by_human(turn("touch a.txt")));
  EXPECT_EQ(turn("touch b.txt", "deny")["decision"], "deny");  // resets Bash:touch to 0
  EXPECT_TRUE(by_human(turn("touch c.txt")));
  // Without the reset this would be the 2nd approval since… it is the 1st: still asked.
  EXPECT_TRUE(by_human(turn("touch d.txt")));
  // 2 approvals since the denial, confidence 2/3 >= 0.6: earned now.
  EXPECT_EQ(turn("touch e.txt")["decided_by"], "provider:approval/learned");

  // A line with && is approved by hand as often as you like and never becomes a pattern.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(by_human(turn("mkdir -p x" + std::to_string(i) + " && ls")));
  EXPECT_TRUE(by_human(turn("mkdir -p x9 && ls")));
  std::string listing = cli({"approvals", "--learned", "--json"});
  EXPECT_EQ(listing.find("&&"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("Bash:mkdir"), std::string::npos) << listing;
}

TEST_F(ApprovalPluginE2E, AutonomyLevelsAndLuaDenyComesFirst) {
  int rc = 0;
  EXPECT_NE(cli({"autonomy"}, &rc).find("autonomy 2"), std::string::npos);
  // Level 2: a read inside the project is approved without learning. claude asks for no Read
  // inside its folder unless a rule says so: a session whose project settings ask for every Read.
  write_file(daemon->project() + "/notes.txt", "hello");
  write_file(daemon->project() + "/.claude/settings.json", R"({"permissions": {"ask": ["Read"]}})");
  id = c->request("session.new", {{"cwd", daemon->project()}})["id"];
  next_seq = 1;
  auto read = run(read_prompt(daemon->project() + "/notes.txt"), answer_with("deny"));
  EXPECT_TRUE(read.asked.is_null()) << "a human was asked: " << read.asked.dump();
  EXPECT_EQ(read.resolved["decided_by"], "provider:approval/learned") << read.resolved.dump();
  EXPECT_EQ(read.resolved["decision"], "allow");
  EXPECT_NE(read.text.find("hello"), std::string::npos) << read.text;
  // Level 3 approves what nobody learned, but never what a Lua policy denies.
  EXPECT_NE(cli({"autonomy", "3"}, &rc).find("autonomy 3"), std::string::npos);
  EXPECT_EQ(rc, 0);
  auto any = turn("mkdir made-at-level-3");
  EXPECT_EQ(any["decided_by"], "provider:approval/learned");
  EXPECT_TRUE(fs::exists(daemon->project() + "/made-at-level-3"));
  auto denied = turn("touch forbidden.txt");
  EXPECT_EQ(denied["decision"], "deny");
  EXPECT_EQ(denied["decided_by"], "policy:" + dir.path + "/deny.lua");
  EXPECT_FALSE(fs::exists(daemon->project() + "/forbidden.txt"));
  // Level 1: nothing is decided, but the human sees the plugin's hint.
  cli({"autonomy", "1"});
  turn("touch h1.txt");
  turn("touch h2.txt");
  auto hinted = run(bash("touch h3.txt"), answer_with("allow"));
  ASSERT_TRUE(hinted.asked.contains("hints")) << hinted.asked.dump();
  EXPECT_NE(hinted.asked["hints"][0]["reason"].get<std::string>().find("would allow at autonomy 2"), std::string::npos);
  EXPECT_TRUE(by_human(hinted.resolved));
  // Level 0: it only learns: the same call is asked with no hint.
  cli({"autonomy", "0"});
  auto quiet = run(bash("touch h4.txt"), answer_with("allow"));
  ASSERT_FALSE(quiet.asked.is_null());
  EXPECT_FALSE(quiet.asked.contains("hints")) << quiet.asked.dump();
  EXPECT_TRUE(by_human(quiet.resolved));
}

// Issue 10 item 7: a symlink inside the project that leads out of it. claude resolves the link
// and asks; at autonomy 2 the plugin used to allow it as "a read-only tool inside the session
// folder" (paths compared as text), and the outside file's contents went to the model.
TEST_F(ApprovalPluginE2E, ReadThroughASymlinkOutOfTheProjectIsAskedAtAutonomy2) {
  fs::create_directories(dir.path + "/outside");
  write_file(dir.path + "/outside/secret.txt", "TOP-SECRET-7f3a");
  fs::create_directory_symlink(dir.path + "/outside", daemon->project() + "/docs");
  auto t = run(read_prompt(daemon->project() + "/docs/secret.txt"), answer_with("deny"));
  ASSERT_FALSE(t.asked.is_null()) << "nobody was asked: " << t.resolved.dump() << " / " << t.text;
  EXPECT_TRUE(by_human(t.resolved)) << t.resolved.dump();
  EXPECT_EQ(t.resolved["decision"], "deny");
  EXPECT_EQ(t.text.find("TOP-SECRET"), std::string::npos) << t.text;
}

// Issue 10 item 7: one "always allow" of `find /outside -maxdepth 1 -name x` learned "Bash:find",
// and `find /outside -delete` was then approved without asking and deleted the folder.
TEST_F(ApprovalPluginE2E, FindDeleteIsAskedAfterAHarmlessFindWasAlwaysAllowed) {
  std::string victim = dir.path + "/victim";
  fs::create_directories(victim);
  write_file(victim + "/keep.txt", "keep me");
  // "Always allow" this call; returns the method's error code ("" when it was accepted).
  std::string always_error;
  auto always = [&](Client& cl, const json& asked) {
    try {
      cl.request("approval.always", {{"id", asked["id"]}});
      always_error.clear();
    } catch (const RequestFailed& e) {
      always_error = e.code;
      answer_with("allow")(cl, asked);  // the person then allows this one call
    }
  };
  auto outside = run(bash("find " + victim + " -maxdepth 1 -name x"), always);
  ASSERT_FALSE(outside.asked.is_null()) << outside.resolved.dump();
  EXPECT_EQ(always_error, "not_learnable");  // a call reaching outside the project is never a pattern
  EXPECT_EQ(outside.resolved["decision"], "allow");

  auto del = run(bash("find " + victim + " -delete"), answer_with("deny"));
  ASSERT_FALSE(del.asked.is_null()) << "approved without asking: " << del.resolved.dump();
  EXPECT_EQ(del.resolved["decision"], "deny");
  EXPECT_TRUE(fs::exists(victim + "/keep.txt"));
  write_file(daemon->project() + "/keep.txt", "keep me too");
  auto del_inside = run(bash("find . -name keep.txt -delete"), answer_with("deny"));
  ASSERT_FALSE(del_inside.asked.is_null()) << "approved without asking: " << del_inside.resolved.dump();
  EXPECT_TRUE(fs::exists(daemon->project() + "/keep.txt"));
  std::string listing = cli({"approvals", "--learned", "--json"});
  EXPECT_EQ(listing.find("\"Bash:find\""), std::string::npos) << listing;
}
