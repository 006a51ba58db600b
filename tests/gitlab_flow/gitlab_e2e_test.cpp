// plugins/gitlab end to end: ccmuxd with the gitlab plugin, the real claude CLI against the
// fake Messages API, tests/fake_gitlab/fake_gitlab.py as GitLab, and a local bare repository
// as the clone's origin. Webhooks are posted to the plugin's listener as GitLab posts them.
#include "e2e.h"
#include "ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {

const std::string kToken = "glpat-TEST-token-that-must-never-be-logged";
const std::string kSecret = "webhook-SECRET-never-logged";
constexpr int64_t kProject = 42;
constexpr int64_t kMr = 7;
const std::string kBranch = "feature/greeting";

// One HTTP/1.1 POST as GitLab sends a webhook; returns the status code (0: no answer).
int post_hook(int port, const std::string& event, const std::string& body, const std::string& token) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return 0;
  }
  std::string req = "POST /gitlab/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "X-Gitlab-Event: " + event + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
                    (token.empty() ? "" : "X-Gitlab-Token: " + token + "\r\n") + "Connection: close\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  close(fd);
  if (n < 12) return 0;
  buf[n] = 0;
  return std::atoi(buf + 9);  // "HTTP/1.1 202 …"
}

json project_json() {
  return {{"id", kProject}, {"name", "app"}, {"path_with_namespace", "group/app"},
          {"web_url", "http://gitlab.example/group/app"}, {"default_branch", "main"}};
}

json mr_note(int64_t note_id, const std::string& username, int64_t user_id, const std::string& text) {
  return {{"object_kind", "note"},
          {"event_type", "note"},
          {"user", {{"id", user_id}, {"username", username}, {"name", username}}},
          {"project_id", kProject},
          {"project", project_json()},
          {"object_attributes",
           {{"id", note_id}, {"note", text}, {"noteable_type", "MergeRequest"}, {"system", false},
            {"url", "http://gitlab.example/group/app/-/merge_requests/7#note_" + std::to_string(note_id)}}},
          {"merge_request",
           {{"id", 500}, {"iid", kMr}, {"title", "Greet people"}, {"source_branch", kBranch}, {"target_branch", "main"},
            {"source_project_id", kProject}, {"target_project_id", kProject}, {"state", "opened"}}}};
}

json issue_note(int64_t note_id, const std::string& username, int64_t user_id, const std::string& text) {
  return {{"object_kind", "note"},
          {"user", {{"id", user_id}, {"username", username}}},
          {"project", project_json()},
          {"object_attributes", {{"id", note_id}, {"note", text}, {"noteable_type", "Issue"}}},
          {"issue", {{"id", 600}, {"iid", 3}, {"title", "Say goodbye too"}, {"state", "opened"}}}};
}

json failed_pipeline(int64_t pipeline_id) {
  return {{"object_kind", "pipeline"},
          {"project", project_json()},
          {"object_attributes", {{"id", pipeline_id}, {"status", "failed"}, {"ref", kBranch}, {"source", "merge_request_event"}}},
          {"merge_request", {{"id", 500}, {"iid", kMr}, {"source_branch", kBranch}, {"target_branch", "main"}}},
          {"builds", {{{"id", 555}, {"name", "unit"}, {"stage", "test"}, {"status", "failed"}}}}};
}

std::string git_out(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/git"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  run_command(argv, &out);
  return out;
}

}  // namespace

class GitLabE2E : public E2E {
 protected:
  void SetUp() override {
    gitlab = std::make_unique<ScriptServer>(source_dir() + "/tests/fake_gitlab/fake_gitlab.py", std::vector<std::string>{kToken});
    make_repositories();
    seed();
    hook_port = free_tcp_port();
    DaemonOptions o;
    // No policy decides: every tool call is asked, and only an answer lets it run.
    o.policies = {policy_file(dir, "none.lua", "function decide(r) end\n")};
    o.extra_yaml = "plugins:\n  - name: gitlab\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                   "    base_url: " + gitlab->base_url() + "\n    token: \"" + kToken + "\"\n" +
                   "    port: " + std::to_string(hook_port) + "\n    webhook_secret: \"" + kSecret + "\"\n" +
                   "    projects:\n      group/app: " + clone + "\n    pipeline_fix: [group/app]\n" +
                   "    allowed_users: [alice]\n    allowed_groups: [group/maintainers]\n" +
                   "    push: true\n    open_mr_for_issues: true\n" +
                   "    page_url: https://box.example:8420\n";
    start(o);
    c = daemon->connect();
  }

  void make_repositories() {
    bare = dir.path + "/remote.git";
    clone = daemon_project_dir() + "/app";
    fs::create_directories(daemon_project_dir());
    std::string seed_dir = dir.path + "/seed";
    ASSERT_EQ(run_command({"/usr/bin/git", "init", "-q", "--bare", "-b", "main", bare}, nullptr), 0);
    ASSERT_EQ(run_command({"/usr/bin/git", "init", "-q", "-b", "main", seed_dir}, nullptr), 0);
    write_file(seed_dir + "/README.md", "# app\n");
    std::vector<std::string> id = {"-c", "user.name=Seed", "-c", "user.email=seed@example.org"};
    auto git_in = [&](const std::string& d, std::vector<std::string> args) {
      std::vector<std::string> argv = {"/usr/bin/git", "-C", d};
      argv.insert(argv.end(), id.begin(), id.end());
      argv.insert(argv.end(), args.begin(), args.end());
      std::string out;
      int rc = run_command(argv, &out);
      ASSERT_EQ(rc, 0) << out;
    };
    git_in(seed_dir, {"add", "-A"});
    git_in(seed_dir, {"commit", "-qm", "first"});
    git_in(seed_dir, {"remote", "add", "origin", bare});
    git_in(seed_dir, {"push", "-q", "origin", "main"});
    git_in(seed_dir, {"checkout", "-qb", kBranch});
    write_file(seed_dir + "/greet.txt", "hello\n");
    git_in(seed_dir, {"add", "-A"});
    git_in(seed_dir, {"commit", "-qm", "greet"});
    git_in(seed_dir, {"push", "-q", "origin", kBranch});
    ASSERT_EQ(run_command({"/usr/bin/git", "clone", "-q", bare, clone}, nullptr), 0);
  }
  // The daemon's project root folder (the Daemon object does not exist yet in SetUp).
  std::string daemon_project_dir() const { return dir.path + "/proj"; }
  // Where core puts NAME's worktree by default: <repo>/../.ccmux-worktrees/<repo-name>/NAME.
  std::string worktree(const std::string& name) const { return daemon_project_dir() + "/.ccmux-worktrees/app/" + name; }

  void seed() {
    json changes = json::array({{{"old_path", "greet.txt"}, {"new_path", "greet.txt"}, {"new_file", true},
                                 {"diff", "@@ -0,0 +1 @@\n+hello\n"}}});
    std::string t;
    for (int i = 0; i < 300; ++i) t += "test_" + std::to_string(i) + " passed\n";
    t += "\x1b[31;1mAssertionError: greeting expected 'hello, world' got 'hello'\x1b[0m\nERROR: Job failed: exit code 1\n";
    http_post(gitlab->port(), "/control/seed",
              json{{"projects", {project_json()}},
                   {"users", {{{"id", 1}, {"username", "alice"}}, {{"id", 2}, {"username", "mallory"}}, {{"id", 3}, {"username", "carol"}}}},
                   {"group_members", {{"group/maintainers", {3}}}},
                   {"merge_requests",
                    {{{"project_id", kProject}, {"iid", kMr}, {"title", "Greet people"}, {"description", "Says hello."},
                      {"source_branch", kBranch}, {"target_branch", "main"}, {"changes", changes}}}},
                   {"issues", {{{"project_id", kProject}, {"iid", 3}, {"title", "Say goodbye too"}, {"description", "Bye."}}}},
                   {"pipelines",
                    {{{"project_id", kProject}, {"id", 900}, {"ref", kBranch},
                      {"jobs", {{{"id", 555}, {"name", "unit"}, {"stage", "test"}, {"trace", t}}}}}}}}
                  .dump());
  }

  json notes() { return json::parse(http_get(gitlab->port(), "/control/notes").body); }
  json calls() { return json::parse(http_get(gitlab->port(), "/control/calls").body); }
  std::vector<json> notes_with(const std::string& text) {
    std::vector<json> out;
    for (auto& n : notes())
      if (n["body"].get<std::string>().find(text) != std::string::npos) out.push_back(n);
    return out;
  }
  // Polls the fake's notes until `count` of them contain `text`.
  bool wait_notes(const std::string& text, size_t count = 1, int timeout_ms = 60000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
      if (notes_with(text).size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  int hook(const json& payload, const std::string& event = "Note Hook", const std::string& token = kSecret) {
    return post_hook(hook_port, event, payload.dump(), token);
  }
  json sessions() { return c->request("session.list")["sessions"]; }
  // Waits for the session's next pending approval and allows it, as a person would.
  json approve_next(const std::string& session) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < end) {
      json pending = c->request("approvals.list")["approvals"];  // a copy: not a temporary's member
      for (auto& a : pending)
        if (a["session"] == session) {
          c->request("approval.answer", {{"id", a["id"]}, {"decision", "allow"}, {"by", "test-reviewer"}});
          return a;
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return json();
  }
  std::string wait_session() {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end) {
      json s = sessions();
      if (!s.empty()) return s[0]["id"];
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
  }

  std::unique_ptr<ScriptServer> gitlab;
  std::unique_ptr<Client> c;
  std::string bare, clone;
  int hook_port = 0;
};

TEST_F(GitLabE2E, MrCommentStartsASessionInAWorktreeItsEditIsPushedAndFollowUpsReachIt) {
  std::string file = worktree("mr-7") + "/hello.txt";
  std::string request = "tool: Write " + json{{"file_path", file}, {"content", "hello, world\n"}}.dump();
  ASSERT_EQ(hook(mr_note(1001, "alice", 1, "@ccmux " + request)), 202);

  // A session in worktree mr-7 on the MR's source branch.
  std::string id = wait_session();
  ASSERT_FALSE(id.empty()) << daemon->log().substr(0, 20000);
  json s = c->request("session.get", {{"session", id}});
  EXPECT_EQ(s["worktree_name"], "mr-7") << s.dump();
  EXPECT_EQ(s["branch"], kBranch);
  EXPECT_EQ(s["cwd"], worktree("mr-7"));
  // The Write is asked like any tool call: nothing is approved because it came from GitLab.
  json asked = approve_next(id);
  ASSERT_FALSE(asked.is_null()) << "no approval was asked";
  EXPECT_EQ(asked["tool"], "Write");
  ASSERT_TRUE(wait_notes("finished its turn")) << notes().dump(2);

  // Committed and pushed to the bare repository's MR branch.
  EXPECT_EQ(git_out({"-C", bare, "show", kBranch + ":hello.txt"}), "hello, world\n");
  std::string subject = git_out({"-C", bare, "log", "-1", "--format=%s", kBranch});
  EXPECT_NE(subject.find("ccmux: MR !7: tool: Write"), std::string::npos) << subject;
  // One start note (with the link to the page) and one result note listing the pushed commit.
  auto start = notes_with("started session");
  ASSERT_EQ(start.size(), 1u) << notes().dump(2);
  EXPECT_EQ(start[0]["iid"], kMr);
  EXPECT_NE(start[0]["body"].get<std::string>().find("https://box.example:8420/#s=" + id), std::string::npos);
  auto result = notes_with("finished its turn");
  ASSERT_EQ(result.size(), 1u);
  std::string short_sha = git_out({"-C", bare, "log", "-1", "--format=%h", kBranch});
  short_sha.pop_back();
  EXPECT_NE(result[0]["body"].get<std::string>().find("Commits pushed to `" + kBranch + "`:\n- " + short_sha),
            std::string::npos) << result[0]["body"];

  // The same delivery again (GitLab retries, "Resend"): nothing new. A stranger's comment
  // after it is handled after it, so its refusal note marks that the duplicate was handled.
  ASSERT_EQ(hook(mr_note(1001, "alice", 1, "@ccmux " + request)), 202);
  ASSERT_EQ(hook(mr_note(1002, "mallory", 2, "@ccmux delete everything")), 202);
  ASSERT_TRUE(wait_notes("you are not allowed")) << notes().dump(2);
  EXPECT_EQ(notes_with("started session").size(), 1u);
  EXPECT_EQ(sessions().size(), 1u) << "a duplicate delivery or a stranger started a session";
  EXPECT_NE(daemon->log().find("was delivered again"), std::string::npos);

  // The daemon restarts; a follow-up comment still reaches the same session.
  daemon->terminate();
  daemon->start();
  c = daemon->connect();
  ASSERT_EQ(hook(mr_note(1003, "alice", 1, "@ccmux echo: second answer")), 202);
  ASSERT_TRUE(wait_notes("second answer")) << notes().dump(2) << daemon->log().substr(0, 20000);
  EXPECT_EQ(sessions().size(), 1u);
  EXPECT_EQ(notes_with("sent to session [`" + id + "`](https://box.example:8420/#s=" + id + ")").size(), 1u) << notes().dump(2);
  EventLog log(*c, id);
  EXPECT_TRUE(log.wait_for([](const json& e) {
    return e["kind"] == "prompt_queued" && e["payload"].dump().find("echo: second answer") != std::string::npos;
  }));
  EXPECT_EQ(notes_with("finished its turn").size(), 2u) << "each turn is reported once";

  std::string logtext = daemon->log();
  EXPECT_EQ(logtext.find(kToken), std::string::npos) << "the API token reached the log";
  EXPECT_EQ(logtext.find(kSecret), std::string::npos) << "the webhook secret reached the log";
}

TEST_F(GitLabE2E, UnsignedWrongSecretAndMalformedHooksAreRefused) {
  json note = mr_note(2001, "alice", 1, "@ccmux echo: hi");
  EXPECT_EQ(hook(note, "Note Hook", ""), 401);
  EXPECT_EQ(hook(note, "Note Hook", "not-the-secret"), 401);
  EXPECT_EQ(post_hook(hook_port, "Note Hook", "{not json", kSecret), 400);
  // Accepted by the listener but not a valid note: refused by the reader, logged.
  json broken = note;
  broken["object_attributes"]["id"] = "one";
  EXPECT_EQ(hook(broken), 202);
  json other = note;
  other["project"]["id"] = 77;
  other["project"]["path_with_namespace"] = "someone/else";
  EXPECT_EQ(hook(other), 202);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end && daemon->log().find("someone/else") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string logtext = daemon->log();
  EXPECT_NE(logtext.find("object_attributes.id"), std::string::npos) << logtext.substr(0, 20000);
  EXPECT_NE(logtext.find("someone/else (77): not in `projects`"), std::string::npos);
  EXPECT_TRUE(sessions().empty());
  EXPECT_TRUE(notes().empty());
  EXPECT_EQ(logtext.find(kSecret), std::string::npos);
}

TEST_F(GitLabE2E, AStrangerGetsARefusalAfterA429IsWaitedOutAndNoSession) {
  http_post(gitlab->port(), "/control/fault",
            json{{"method", "POST"}, {"path", "/notes"}, {"count", 1}, {"status", 429}, {"retry_after", 1}}.dump());
  ASSERT_EQ(hook(mr_note(3001, "mallory", 2, "@ccmux push to main please")), 202);
  ASSERT_TRUE(wait_notes("you are not allowed", 1, 30000)) << calls().dump(2);
  double limited = 0, posted = 0;
  for (auto& k : calls()) {
    if (k["method"] != "POST" || k["path"].get<std::string>().find("/notes") == std::string::npos) continue;
    if (k["status"] == 429 && limited == 0) limited = k["t"];
    if (k["status"] == 201) posted = k["t"];
  }
  ASSERT_GT(limited, 0) << "no 429 was served";
  EXPECT_GE(posted - limited, 0.95) << "retried before Retry-After";
  EXPECT_EQ(notes_with("you are not allowed").size(), 1u);
  EXPECT_EQ(notes_with("@mallory").size(), 1u);
  EXPECT_TRUE(sessions().empty()) << "a user not allowed got a session";
  EXPECT_NE(daemon->log().find("refused a request by @mallory"), std::string::npos);
}

TEST_F(GitLabE2E, AFailedPipelineStartsAFixSessionWithTheLogTail) {
  ASSERT_EQ(hook(failed_pipeline(900), "Pipeline Hook"), 202);
  std::string id = wait_session();
  ASSERT_FALSE(id.empty()) << daemon->log().substr(0, 20000);
  EXPECT_EQ(c->request("session.get", {{"session", id}})["worktree_name"], "mr-7");
  ASSERT_TRUE(wait_notes("finished its turn")) << notes().dump(2);
  // The prompt the model got carries the failed job's log tail, without colour codes.
  std::string sent = read_file(dir.path + "/api-requests.ndjson");
  EXPECT_NE(sent.find("AssertionError: greeting expected 'hello, world' got 'hello'"), std::string::npos) << sent.substr(0, 4000);
  EXPECT_NE(sent.find("Pipeline #900"), std::string::npos);
  EXPECT_NE(sent.find("`unit`"), std::string::npos);
  EXPECT_EQ(sent.find("test_100 passed"), std::string::npos) << "more than the tail was sent";
  EXPECT_EQ(notes_with("the pipeline failed").size(), 1u) << notes().dump(2);
  // Redelivered: nothing twice. A success of another pipeline changes nothing either.
  ASSERT_EQ(hook(failed_pipeline(900), "Pipeline Hook"), 202);
  ASSERT_EQ(hook(mr_note(4001, "mallory", 2, "@ccmux marker")), 202);
  ASSERT_TRUE(wait_notes("you are not allowed"));
  EXPECT_EQ(notes_with("the pipeline failed").size(), 1u);
  EXPECT_EQ(sessions().size(), 1u);
}

TEST_F(GitLabE2E, AnIssueCommentWorksOnANewBranchAndOpensAMergeRequest) {
  std::string file = worktree("issue-3") + "/bye.txt";
  std::string request = "tool: Write " + json{{"file_path", file}, {"content", "goodbye\n"}}.dump();
  ASSERT_EQ(hook(issue_note(5001, "alice", 1, "@ccmux " + request)), 202);
  std::string id = wait_session();
  ASSERT_FALSE(id.empty()) << daemon->log().substr(0, 20000);
  json s = c->request("session.get", {{"session", id}});
  EXPECT_EQ(s["worktree_name"], "issue-3") << s.dump();
  EXPECT_EQ(s["branch"], "ccmux/issue-3");
  ASSERT_FALSE(approve_next(id).is_null()) << "no approval was asked";
  ASSERT_TRUE(wait_notes("finished its turn")) << notes().dump(2);
  // The new branch starts from main (no MR branch file) and carries the edit, pushed.
  EXPECT_EQ(git_out({"-C", bare, "show", "ccmux/issue-3:bye.txt"}), "goodbye\n");
  EXPECT_EQ(git_out({"-C", bare, "ls-tree", "--name-only", "ccmux/issue-3"}), "README.md\nbye.txt\n");
  // An MR was opened for it, once, and the result note on the issue links it.
  int opened = 0;
  for (auto& k : calls())
    if (k["method"] == "POST" && k["path"] == "/projects/42/merge_requests" && k["status"] == 201) {
      ++opened;
      EXPECT_EQ(k["body"]["source_branch"], "ccmux/issue-3");
      EXPECT_EQ(k["body"]["target_branch"], "main");
      EXPECT_NE(k["body"]["description"].get<std::string>().find("Closes #3"), std::string::npos);
    }
  EXPECT_EQ(opened, 1);
  auto result = notes_with("finished its turn");
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0]["noteable"], "issues");
  EXPECT_EQ(result[0]["iid"], 3);
  EXPECT_NE(result[0]["body"].get<std::string>().find("Opened a merge request: http://gitlab.example/group/app/-/merge_requests/8"),
            std::string::npos) << result[0]["body"];
}

TEST_F(GitLabE2E, AMemberOfAnAllowedGroupMayTriggerAndOthersMayNot) {
  ASSERT_EQ(hook(mr_note(6001, "mallory", 2, "@ccmux echo: not a member")), 202);
  ASSERT_EQ(hook(mr_note(6002, "carol", 3, "@ccmux echo: from a group member")), 202);
  ASSERT_TRUE(wait_notes("from a group member", 2)) << notes().dump(2);  // the start note quotes it, the result says it
  EXPECT_EQ(notes_with("Sorry @mallory").size(), 1u);
  EXPECT_EQ(notes_with("started session").size(), 1u);
  EXPECT_EQ(sessions().size(), 1u);
  bool asked = false;
  for (auto& k : calls()) asked |= k["path"] == "/groups/group%2Fmaintainers/members/all/3";
  EXPECT_TRUE(asked) << "membership is GitLab's to say";
}
