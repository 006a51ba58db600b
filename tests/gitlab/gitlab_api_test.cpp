// The GitLab API client against the fake GitLab (tests/fake_gitlab/fake_gitlab.py): each
// call's request and reading, each error class, retries (Retry-After measured), the
// idempotency marker after an ambiguous POST failure, stop(), and the token's secrecy.
#include "gitlab_api.h"
#include "gitlab_fake.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace ccmux::gitlab {
namespace {

using nlohmann::json;
using test::FakeGitLab;
using Clock = std::chrono::steady_clock;

std::string to_hex(const std::string& bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {hex[c >> 4], hex[c & 15]};
  return out;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

class GitLabApiTest : public ::testing::Test {
 protected:
  void SetUp() override { fake.seed_standard(); }

  ApiConfig config(const std::string& token) {
    ApiConfig c;
    c.base_url = fake.base_url();
    c.token = token;
    c.timeout_s = 5;
    c.backoff_initial = std::chrono::milliseconds(50);
    c.backoff_max = std::chrono::milliseconds(200);
    c.log = [this](int, const std::string& line) {
      std::lock_guard lock(mu);
      lines.push_back(line);
    };
    return c;
  }
  std::unique_ptr<GitLabApi> api(const std::string& token = "") {
    return std::make_unique<GitLabApi>(config(token.empty() ? fake.token() : token));
  }
  std::vector<std::string> log_lines() {
    std::lock_guard lock(mu);
    return lines;
  }
  // The API calls the fake saw for `method` with `path` in them.
  size_t count_calls(const std::string& method, const std::string& path) {
    size_t n = 0;
    for (auto& c : fake.calls())
      if (c["method"] == method && c["path"].get<std::string>().find(path) != std::string::npos) ++n;
    return n;
  }
  template <class F>
  ApiError error_of(F&& f) {
    try {
      f();
    } catch (const ApiError& e) {
      return e;
    }
    ADD_FAILURE() << "no ApiError thrown";
    return ApiError(ErrorKind::client, 0, "none");
  }

  FakeGitLab fake;
  std::mutex mu;
  std::vector<std::string> lines;
};

TEST_F(GitLabApiTest, ProjectByPathIsUrlEncodedAndByIdToo) {
  auto a = api();
  Project p = a->get_project("grp/app");
  EXPECT_EQ(p.id, 5);
  EXPECT_EQ(p.path_with_namespace, "grp/app");
  EXPECT_EQ(p.default_branch, "main");
  EXPECT_EQ(a->get_project("5").path_with_namespace, "grp/app");
  json calls = fake.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["path"], "/projects/grp%2Fapp");
  EXPECT_EQ(calls[1]["path"], "/projects/5");
  // A base URL given with /api/v4 and a trailing slash works the same.
  ApiConfig c = config(fake.token());
  c.base_url = fake.base_url() + "/api/v4/";
  EXPECT_EQ(GitLabApi(c).get_project("5").id, 5);
}

TEST_F(GitLabApiTest, MergeRequestsTheirChangesAndIssues) {
  auto a = api();
  auto mrs = a->list_open_mrs("grp/app");
  ASSERT_EQ(mrs.size(), 1u);
  EXPECT_EQ(mrs[0].iid, 1);
  EXPECT_EQ(mrs[0].source_branch, "feature");
  EXPECT_EQ(mrs[0].author.username, "alice");
  MergeRequest mr = a->get_mr("grp/app", 1);
  EXPECT_EQ(mr.title, "Add greeting");
  MrChanges ch = a->get_mr_changes("grp/app", 1);
  ASSERT_EQ(ch.files.size(), 1u);
  EXPECT_EQ(ch.files[0].new_path, "hello.txt");
  EXPECT_NE(ch.files[0].diff.find("+hello"), std::string::npos);
  EXPECT_FALSE(ch.truncated);
  EXPECT_EQ(ch.mr.target_branch, "main");
  auto issues = a->list_open_issues("grp/app");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].iid, 3);
  EXPECT_EQ(a->get_issue("grp/app", 3).description, "Say hello nicely.");
  // The list asked for open ones.
  EXPECT_EQ(fake.calls()[0]["query"]["state"], "opened");
}

TEST_F(GitLabApiTest, ChangesAreCutAtTheDiffBudget) {
  std::string line(98, 'x');  // lines of 100 bytes
  std::string diff;
  for (int i = 0; i < 10; ++i) diff += "+" + line + "\n";  // 1000 bytes
  json files = json::array();
  for (const char* name : {"a.txt", "b.txt", "c.txt"})
    files.push_back({{"old_path", name}, {"new_path", name}, {"diff", diff}});
  fake.seed({{"merge_requests", {{{"project_id", 5}, {"iid", 2}, {"title", "big"}, {"source_branch", "big"},
                                  {"target_branch", "main"}, {"changes", files}}}}});
  MrChanges ch = api()->get_mr_changes("5", 2, 1500);
  ASSERT_EQ(ch.files.size(), 3u);  // every file is listed
  EXPECT_TRUE(ch.truncated);
  EXPECT_EQ(ch.files[0].diff.size(), 1000u);
  EXPECT_FALSE(ch.files[0].diff_truncated);
  EXPECT_EQ(ch.files[1].diff.size(), 500u);  // cut at a line end within the budget
  EXPECT_TRUE(ch.files[1].diff_truncated);
  EXPECT_EQ(ch.files[1].diff.back(), '\n');
  EXPECT_TRUE(ch.files[2].diff.empty());
  EXPECT_TRUE(ch.files[2].diff_truncated);
}

TEST_F(GitLabApiTest, ChangesComeFromPaginatedDiffsWithChangesAsTheFallback) {
  json files = json::array();
  for (int i = 0; i < 150; ++i) {
    std::string name = "f" + std::to_string(i) + ".txt";
    files.push_back({{"old_path", name}, {"new_path", name}, {"diff", "+x\n"}});
  }
  fake.seed({{"merge_requests", {{{"project_id", 5}, {"iid", 4}, {"title", "many"}, {"source_branch", "many"},
                                  {"target_branch", "main"}, {"changes", files}}}}});
  auto a = api();
  MrChanges ch = a->get_mr_changes("5", 4);
  ASSERT_EQ(ch.files.size(), 150u);  // both pages
  EXPECT_EQ(ch.files[149].new_path, "f149.txt");
  EXPECT_EQ(ch.mr.title, "many");
  EXPECT_FALSE(ch.truncated);
  EXPECT_EQ(count_calls("GET", "/merge_requests/4/diffs"), 2u);
  EXPECT_EQ(count_calls("GET", "/merge_requests/4/changes"), 0u);
  // A GitLab older than 15.7 has no /diffs: /changes is used.
  fake.fault({{"path", "/merge_requests/4/diffs"}, {"status", 404}});
  MrChanges old = a->get_mr_changes("5", 4);
  EXPECT_EQ(old.files.size(), 150u);
  EXPECT_EQ(count_calls("GET", "/merge_requests/4/changes"), 1u);
  // No such MR: not_found (not a fallback).
  EXPECT_EQ(error_of([&] { a->get_mr_changes("5", 999); }).kind(), ErrorKind::not_found);
}

TEST_F(GitLabApiTest, PipelinesFailedJobsAndTheLogTail) {
  auto a = api();
  auto pipelines = a->list_pipelines("grp/app");
  ASSERT_EQ(pipelines.size(), 1u);
  EXPECT_EQ(pipelines[0].id, 31);
  EXPECT_EQ(pipelines[0].status, "failed");
  auto jobs = a->list_pipeline_jobs("grp/app", 31);
  ASSERT_EQ(jobs.size(), 1u);  // failed ones only
  EXPECT_EQ(jobs[0].id, 380);
  EXPECT_EQ(a->list_pipeline_jobs("grp/app", 31, false).size(), 2u);
  std::string trace = a->job_trace_tail("grp/app", 380);
  EXPECT_NE(trace.find("ERROR: boom"), std::string::npos);
  std::string plain = GitLabApi::plain_text(trace);
  EXPECT_NE(plain.find("FAIL test_greeting"), std::string::npos);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos);
}

TEST_F(GitLabApiTest, TraceTailKeepsTheLastBytesFromALineStart) {
  std::string trace;
  for (int i = 0; i < 20000; ++i) trace += "log line number " + std::to_string(i) + "\n";  // ~420 KB
  fake.seed({{"pipelines", {{{"project_id", 5}, {"id", 40}, {"jobs", {{{"id", 900}, {"name", "big"}, {"trace", trace}}}}}}}});
  std::string tail = api()->job_trace_tail("5", 900, 4096);
  EXPECT_LE(tail.size(), 4096u);
  EXPECT_GT(tail.size(), 3000u);
  EXPECT_EQ(tail.rfind("log line number 19999\n"), tail.size() - 22);
  EXPECT_EQ(tail.rfind("log line number ", 0), 0u);  // starts at a line
  EXPECT_EQ(trace.substr(trace.size() - tail.size()), tail);
}

TEST_F(GitLabApiTest, TraceTailNeverStartsInsideACharacterAndIsValidUtf8) {
  // No newline near the cut, two-byte characters throughout: an odd tail falls inside one.
  std::string trace = "start\n";
  for (int i = 0; i < 5000; ++i) trace += "\xC3\xA9";
  trace += "\xFF bad byte\n";  // a job may print anything
  // trace_hex: the fake serves these exact bytes (JSON strings cannot carry a lone \xFF).
  fake.seed({{"pipelines", {{{"project_id", 5}, {"id", 42}, {"jobs", {{{"id", 902}, {"name", "utf"}, {"trace_hex", to_hex(trace)}}}}}}}});
  std::string tail = api()->job_trace_tail("5", 902, 1002);  // the cut falls inside an é
  EXPECT_EQ(tail.size(), 1002u - 1 + 2);  // half an é left out; U+FFFD (3 bytes) for the bad byte
  EXPECT_NO_THROW((void)json(tail).dump());     // strict dump: throws on invalid UTF-8
  EXPECT_EQ(tail.rfind("\xEF\xBF\xBD bad byte\n"), tail.size() - 13);
  EXPECT_EQ(tail.rfind("\xC3\xA9", 0), 0u);       // starts at a whole character
}

TEST_F(GitLabApiTest, NoteBodiesAndErrorsCutMidCharacterDoNotThrow) {
  auto a = api();
  // A body cut inside "é" (what a careless caller may pass on): posted, the half character replaced.
  std::string cut = "log tail: \xC3";
  Note n = a->create_note("5", Noteable::merge_request, 1, cut);
  EXPECT_EQ(n.body, "log tail: \xEF\xBF\xBD");
  // An error message from GitLab over 300 bytes of two-byte characters is cut between them.
  std::string long_msg = "x";
  for (int i = 0; i < 400; ++i) long_msg += "\xC3\xA9";
  fake.fault({{"path", "/projects/5/issues"}, {"status", 422}, {"message", long_msg}});
  ApiError e = error_of([&] { a->list_open_issues("5"); });
  EXPECT_EQ(e.kind(), ErrorKind::client);
  EXPECT_NO_THROW((void)json(std::string(e.what())).dump());
}

TEST_F(GitLabApiTest, PlainTextDropsSectionMarkersAndEscapes) {
  std::string t = "section_start:1700000000:build_script\r\x1b[0K\x1b[32;1m$ make\x1b[0;m\r\nok\r\nsection_end:1700000001:build_script\r\x1b[0K";
  EXPECT_EQ(GitLabApi::plain_text(t), "$ make\nok\n");
}

TEST_F(GitLabApiTest, NotesUsersAndMembership) {
  auto a = api();
  Note n = a->create_note("grp/app", Noteable::merge_request, 1, "hello from ccmux");
  EXPECT_GT(n.id, 0);
  EXPECT_EQ(n.body, "hello from ccmux");
  a->create_note("grp/app", Noteable::issue, 3, "on the issue");
  auto notes = a->list_notes("grp/app", Noteable::merge_request, 1);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].id, n.id);
  EXPECT_EQ(a->list_notes("grp/app", Noteable::issue, 3)[0].body, "on the issue");
  auto alice = a->find_user("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->id, 7);
  EXPECT_FALSE(a->find_user("nobody"));
  EXPECT_TRUE(a->is_group_member("grp", 7));
  EXPECT_FALSE(a->is_group_member("grp", 8));
  fake.seed({{"project_members", {{"5", {8}}}}});
  EXPECT_TRUE(a->is_project_member("grp/app", 8));
  EXPECT_FALSE(a->is_project_member("grp/app", 7));
}

TEST_F(GitLabApiTest, AGuestIsNotAMemberWhoMayTrigger) {
  auto a = api();
  // alice (7) is in group grp and mallory (8) in project 5, both as Guests (10).
  fake.seed({{"project_members", {{"5", {8}}}}, {"access_levels", {{"7", 10}, {"8", 10}}}});
  EXPECT_FALSE(a->is_group_member("grp", 7));
  EXPECT_FALSE(a->is_project_member("grp/app", 8));
  EXPECT_TRUE(a->is_group_member("grp", 7, 10));  // a lower minimum, configured, lets them in
  fake.seed({{"access_levels", {{"7", 30}, {"8", 40}}}});  // Developer, Maintainer
  EXPECT_TRUE(a->is_group_member("grp", 7));
  EXPECT_TRUE(a->is_project_member("grp/app", 8));
  EXPECT_FALSE(a->is_project_member("grp/app", 8, 50));  // not an Owner
  // An answer without access_level counts as no access.
  fake.fault({{"path", "/members/all/7"}, {"body", {{"id", 7}, {"username", "alice"}, {"state", "active"}}}});
  EXPECT_FALSE(a->is_group_member("grp", 7));
}

TEST_F(GitLabApiTest, CreateMergeRequestOnceEvenWhenAskedTwice) {
  auto a = api();
  MergeRequest first = a->create_mr("grp/app", "fix-1", "main", "Fix it", "by ccmux");
  EXPECT_EQ(first.source_branch, "fix-1");
  // GitLab answers 409 for a second open MR from the same branch: the existing one is the answer.
  MergeRequest again = a->create_mr("grp/app", "fix-1", "main", "Fix it", "by ccmux");
  EXPECT_EQ(again.iid, first.iid);
  EXPECT_EQ(a->list_open_mrs("grp/app").size(), 2u);  // the seeded one and this one
}

TEST_F(GitLabApiTest, WrongTokenIsUnauthorizedNotRetriedAndNotEchoed) {
  const std::string wrong = "glpat-WRONG-secret-value";
  auto a = api(wrong);
  ApiError e = error_of([&] { a->get_project("grp/app"); });
  EXPECT_EQ(e.kind(), ErrorKind::unauthorized);
  EXPECT_EQ(e.http_status(), 401);
  EXPECT_NE(std::string(e.what()).find("token refused"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find(wrong), std::string::npos);
  EXPECT_EQ(fake.calls().size(), 1u);  // a refused token does not heal by retrying
}

TEST_F(GitLabApiTest, NotFoundForbiddenConflictAndOther4xxAreTypedAndNotRetried) {
  auto a = api();
  ApiError nf = error_of([&] { a->get_project("nobody/nothing"); });
  EXPECT_EQ(nf.kind(), ErrorKind::not_found);
  EXPECT_NE(std::string(nf.what()).find("no such project"), std::string::npos) << nf.what();
  EXPECT_EQ(error_of([&] { a->get_mr("grp/app", 999); }).kind(), ErrorKind::not_found);
  fake.fault({{"path", "/projects/5/issues"}, {"status", 403}, {"count", 5}});
  ApiError fb = error_of([&] { a->list_open_issues("5"); });
  EXPECT_EQ(fb.kind(), ErrorKind::forbidden);
  EXPECT_EQ(count_calls("GET", "/projects/5/issues"), 1u);
  fake.fault({{"path", "/projects/5/pipelines"}, {"status", 409}, {"count", 5}});
  EXPECT_EQ(error_of([&] { a->list_pipelines("5"); }).kind(), ErrorKind::conflict);
  fake.fault({{"path", "/projects/5/merge_requests/1/notes"}, {"method", "POST"}, {"status", 422}, {"message", "note is too long"}});
  ApiError other = error_of([&] { a->create_note("5", Noteable::merge_request, 1, "x"); });
  EXPECT_EQ(other.kind(), ErrorKind::client);
  EXPECT_NE(std::string(other.what()).find("note is too long"), std::string::npos) << other.what();
  EXPECT_EQ(count_calls("GET", "/pipelines"), 1u);
  EXPECT_EQ(count_calls("POST", "/notes"), 1u);
}

TEST_F(GitLabApiTest, RateLimitIsRetriedAfterTheGivenTime) {
  fake.fault({{"path", "/projects/5"}, {"method", "GET"}, {"status", 429}, {"retry_after", 1}, {"count", 1}});
  auto t0 = Clock::now();
  EXPECT_EQ(api()->get_project("5").id, 5);
  double took = seconds_since(t0);
  EXPECT_GE(took, 1.0);  // Retry-After: 1 was honoured...
  EXPECT_LT(took, 3.0);  // ...and not much more
  json calls = fake.calls();
  ASSERT_EQ(calls.size(), 2u);
  double gap = calls[1]["t"].get<double>() - calls[0]["t"].get<double>();
  EXPECT_GE(gap, 0.95);
  bool logged = false;
  for (auto& l : log_lines()) logged = logged || (l.find("429") != std::string::npos && l.find("retrying in 1000 ms") != std::string::npos);
  EXPECT_TRUE(logged);
}

TEST_F(GitLabApiTest, RateLimitWaitsTheLongerOfBackoffAndRetryAfterAndReadsHttpDates) {
  ApiConfig c = config(fake.token());
  c.backoff_initial = std::chrono::milliseconds(1500);
  c.backoff_max = std::chrono::milliseconds(1500);
  GitLabApi a(c);
  auto gap = [&] {
    json calls = fake.calls();
    double g = calls[calls.size() - 1]["t"].get<double>() - calls[calls.size() - 2]["t"].get<double>();
    fake.reset();
    fake.seed_standard();
    return g;
  };
  // No Retry-After: the backoff (1.5 s), not a fixed second.
  fake.fault({{"path", "/projects/5"}, {"status", 429}, {"count", 1}});
  EXPECT_EQ(a.get_project("5").id, 5);
  EXPECT_GE(gap(), 1.45);
  // Retry-After shorter than the backoff: still the backoff.
  fake.fault({{"path", "/jobs/380/trace"}, {"status", 429}, {"retry_after", 1}, {"count", 1}});
  a.job_trace_tail("5", 380);
  EXPECT_GE(gap(), 1.45);
  // An HTTP-date 4 s ahead (whole seconds: at least 3 s from now) is longer: it wins.
  c.backoff_initial = c.backoff_max = std::chrono::milliseconds(50);
  GitLabApi quick(c);
  fake.fault({{"path", "/projects/5"}, {"status", 429}, {"retry_after_in", 4}, {"count", 1}});
  EXPECT_EQ(quick.get_project("5").id, 5);
  EXPECT_GE(gap(), 2.9);
}

TEST_F(GitLabApiTest, RetryAfterLongerThanTheCapIsNotWaitedFor) {
  fake.fault({{"path", "/projects/5"}, {"status", 429}, {"retry_after", 3600}, {"count", 1}});
  auto t0 = Clock::now();
  ApiError e = error_of([&] { api()->get_project("5"); });
  EXPECT_EQ(e.kind(), ErrorKind::rate_limited);
  EXPECT_EQ(e.retry_after_s(), 3600);
  EXPECT_LT(seconds_since(t0), 1.0);
}

TEST_F(GitLabApiTest, ServerErrorsOnGetAreRetriedWithBackoffThenGiveUp) {
  fake.fault({{"path", "/projects/5"}, {"status", 502}, {"count", 2}});
  EXPECT_EQ(api()->get_project("5").id, 5);
  EXPECT_EQ(fake.calls().size(), 3u);
  fake.reset();
  fake.seed_standard();
  fake.fault({{"path", "/projects/5"}, {"status", 500}, {"count", 100}});
  auto t0 = Clock::now();
  ApiError e = error_of([&] { api()->get_project("5"); });
  EXPECT_EQ(e.kind(), ErrorKind::server);
  EXPECT_EQ(e.http_status(), 500);
  EXPECT_EQ(fake.calls().size(), 4u);  // max_attempts
  // Backoff 50 + 100 + 200 ms between the four attempts.
  EXPECT_GE(seconds_since(t0), 0.34);
  EXPECT_NE(std::string(e.what()).find("after 4 attempts"), std::string::npos) << e.what();
}

TEST_F(GitLabApiTest, PostIsNotRepeatedAfterAnAmbiguousServerErrorWithoutMarker) {
  // The server stored the note, then failed: a blind retry would post it twice.
  fake.fault({{"path", "/notes"}, {"method", "POST"}, {"status", 500}, {"after", true}, {"count", 1}});
  ApiError e = error_of([&] { api()->create_note("5", Noteable::merge_request, 1, "once"); });
  EXPECT_EQ(e.kind(), ErrorKind::server);
  EXPECT_EQ(count_calls("POST", "/notes"), 1u);
  EXPECT_EQ(fake.notes().size(), 1u);
}

TEST_F(GitLabApiTest, MarkerKeepsAnAmbiguousPostFromBeingDoubled) {
  fake.fault({{"path", "/notes"}, {"method", "POST"}, {"status", 500}, {"after", true}, {"count", 1}});
  Note n = api()->create_note("5", Noteable::merge_request, 1, "Started a session.", "ccmux:note=12345:start");
  json notes = fake.notes();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0]["id"], n.id);
  EXPECT_EQ(notes[0]["body"], "Started a session.\n\n<!-- ccmux:note=12345:start -->");
  EXPECT_EQ(count_calls("POST", "/notes"), 1u);
  bool said = false;
  for (auto& l : log_lines()) said = said || l.find("processed after all") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST_F(GitLabApiTest, MarkerPostIsRetriedWhenTheFirstAttemptDidNotLand) {
  fake.fault({{"path", "/notes"}, {"method", "POST"}, {"status", 503}, {"count", 1}});
  api()->create_note("5", Noteable::issue, 3, "Done.", "ccmux:note=777:end");
  EXPECT_EQ(count_calls("POST", "/notes"), 2u);
  EXPECT_EQ(fake.notes().size(), 1u);
}

TEST_F(GitLabApiTest, MarkerMakesASecondCallReturnTheFirstNote) {
  auto a = api();
  Note first = a->create_note("5", Noteable::merge_request, 1, "Started.", "ccmux:note=5:start");
  Note second = a->create_note("5", Noteable::merge_request, 1, "Started.", "ccmux:note=5:start");
  EXPECT_EQ(first.id, second.id);
  EXPECT_EQ(fake.notes().size(), 1u);
  EXPECT_EQ(count_calls("POST", "/notes"), 1u);
  // Another marker is another note.
  a->create_note("5", Noteable::merge_request, 1, "Ended.", "ccmux:note=5:end");
  EXPECT_EQ(fake.notes().size(), 2u);
}

TEST_F(GitLabApiTest, AMarkerPlantedByAnotherUserDoesNotSuppressThePost) {
  // mallory (8) comments the predictable marker first, hoping the bot stays silent.
  fake.seed({{"notes", {{{"project_id", 5}, {"noteable", "merge_requests"}, {"iid", 1},
                         {"body", "gotcha <!-- ccmux:note=12345:start -->"}, {"author_id", 8}}}}});
  auto a = api();
  Note n = a->create_note("5", Noteable::merge_request, 1, "Started a session.", "ccmux:note=12345:start");
  EXPECT_EQ(n.author.id, 99);  // the bot's own note, posted
  EXPECT_EQ(count_calls("POST", "/notes"), 1u);
  ASSERT_EQ(fake.notes().size(), 2u);
  // Its own note does count: a second call returns it. /user was asked once.
  EXPECT_EQ(a->create_note("5", Noteable::merge_request, 1, "Started a session.", "ccmux:note=12345:start").id, n.id);
  EXPECT_EQ(count_calls("POST", "/notes"), 1u);
  EXPECT_EQ(count_calls("GET", "/user"), 1u);
  // And after an ambiguous failure the planted note is not taken for ours either.
  fake.fault({{"path", "/notes"}, {"method", "POST"}, {"status", 503}, {"count", 1}});
  fake.seed({{"notes", {{{"project_id", 5}, {"noteable", "issues"}, {"iid", 3},
                         {"body", "<!-- ccmux:note=9:end -->"}, {"author_id", 8}}}}});
  Note m = a->create_note("5", Noteable::issue, 3, "Done.", "ccmux:note=9:end");
  EXPECT_EQ(m.author.id, 99);
  EXPECT_EQ(count_calls("POST", "/issues/3/notes"), 2u);
}

TEST_F(GitLabApiTest, BadMarkersAreRefusedBeforeAnyRequest) {
  auto a = api();
  for (const std::string& bad : std::vector<std::string>{"a--b", "x -->", "trail-", "new\nline", std::string(201, 'a')}) {
    ApiError e = error_of([&] { a->create_note("5", Noteable::merge_request, 1, "x", bad); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << bad;
  }
  EXPECT_EQ(fake.calls().size(), 0u);
  EXPECT_TRUE(GitLabApi::valid_marker("ccmux:note=12345:start"));
}

TEST_F(GitLabApiTest, PostIsRetriedOn429WithoutDoubling) {
  fake.fault({{"path", "/notes"}, {"method", "POST"}, {"status", 429}, {"retry_after", 1}, {"count", 1}});
  auto t0 = Clock::now();
  api()->create_note("5", Noteable::merge_request, 1, "after the limit");
  EXPECT_GE(seconds_since(t0), 1.0);
  EXPECT_EQ(fake.notes().size(), 1u);
}

TEST_F(GitLabApiTest, ConnectionRefusedIsANetworkErrorRetriedEvenForPosts) {
  ApiConfig c = config("tok");
  c.base_url = "http://127.0.0.1:1";  // nothing listens on port 1
  GitLabApi a(c);
  ApiError e = error_of([&] { a.create_note("5", Noteable::merge_request, 1, "x"); });
  EXPECT_EQ(e.kind(), ErrorKind::network);
  EXPECT_EQ(e.http_status(), 0);
  size_t retries = 0;
  for (auto& l : log_lines()) retries += l.find("retrying") != std::string::npos;
  EXPECT_EQ(retries, 3u);  // never reached the server: safe to send again
}

TEST_F(GitLabApiTest, AHangingServerTimesOut) {
  ApiConfig c = config(fake.token());
  c.timeout_s = 1;
  c.max_attempts = 1;
  fake.fault({{"path", "/projects/5"}, {"hang", 10}, {"count", 1}});
  GitLabApi a(c);
  auto t0 = Clock::now();
  ApiError e = error_of([&] { a.get_project("5"); });
  EXPECT_EQ(e.kind(), ErrorKind::network);
  EXPECT_LT(seconds_since(t0), 3.0);
}

TEST_F(GitLabApiTest, StopEndsARetrySleepAndAHangingCall) {
  for (bool hang : {false, true}) {
    fake.reset();
    fake.seed_standard();
    if (hang) fake.fault({{"path", "/projects/5"}, {"hang", 30}, {"count", 1}});
    else fake.fault({{"path", "/projects/5"}, {"status", 429}, {"retry_after", 30}, {"count", 1}});
    auto a = api();
    std::atomic<int> kind{-1};
    std::thread t([&] {
      try {
        a->get_project("5");
      } catch (const ApiError& e) {
        kind = static_cast<int>(e.kind());
      }
    });
    // Stop once the call is in (the fake saw it), not after a fixed sleep.
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (fake.calls().empty() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto t0 = Clock::now();
    a->stop();
    t.join();
    EXPECT_EQ(kind.load(), static_cast<int>(ErrorKind::stopped)) << (hang ? "hang" : "429");
    EXPECT_LT(seconds_since(t0), 2.5) << (hang ? "hang" : "429");  // curl checks the flag about once a second
    EXPECT_EQ(error_of([&] { a->get_project("5"); }).kind(), ErrorKind::stopped);
  }
}

TEST_F(GitLabApiTest, WrongTypesAndOversizedAnswersAreClearErrors) {
  auto a = api();
  fake.fault({{"path", "/projects/5"}, {"body", {{"id", "five"}, {"path_with_namespace", "grp/app"}}}});
  ApiError e = error_of([&] { a->get_project("5"); });
  EXPECT_EQ(e.kind(), ErrorKind::bad_response);
  EXPECT_NE(std::string(e.what()).find("'id' is string, expected an integer"), std::string::npos) << e.what();
  fake.fault({{"path", "/merge_requests"}, {"body", {{"not", "a list"}}}});
  EXPECT_EQ(error_of([&] { a->list_open_mrs("5"); }).kind(), ErrorKind::bad_response);
  fake.fault({{"path", "/pipelines"}, {"body", json::array({{{"id", 1}}, 7})}});
  ApiError item = error_of([&] { a->list_pipelines("5"); });
  EXPECT_NE(std::string(item.what()).find("pipelines[1]"), std::string::npos) << item.what();
  fake.fault({{"path", "/projects/5"}, {"body", {{"id", 5}}}});  // path_with_namespace missing
  EXPECT_NE(std::string(error_of([&] { a->get_project("5"); }).what()).find("'path_with_namespace' is missing"), std::string::npos);
  ApiConfig small = config(fake.token());
  small.max_response_bytes = 100;
  ApiError big = error_of([&] { GitLabApi(small).get_mr_changes("5", 1); });
  EXPECT_EQ(big.kind(), ErrorKind::bad_response);
  EXPECT_NE(std::string(big.what()).find("larger than 100 bytes"), std::string::npos) << big.what();
}

TEST_F(GitLabApiTest, TheTokenIsInNoLogLineAndNoError) {
  const std::string token = fake.token();
  auto a = api();
  std::vector<std::string> errors;
  // A server that echoes the token in its error text, retries, a 401, a refused connection.
  fake.fault({{"path", "/projects/5"}, {"status", 500}, {"count", 100}, {"message", "bad PRIVATE-TOKEN " + token}});
  try {
    a->get_project("5");
  } catch (const ApiError& e) {
    errors.push_back(e.what());
  }
  try {
    api(token + "x")->get_project("grp/app");
  } catch (const ApiError& e) {
    errors.push_back(e.what());
  }
  ApiConfig c = config(token);
  c.base_url = "http://127.0.0.1:1";
  try {
    GitLabApi(c).get_project("5");
  } catch (const ApiError& e) {
    errors.push_back(e.what());
  }
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("bad PRIVATE-TOKEN <token>"), std::string::npos) << errors[0];  // redacted, not dropped
  auto lines = log_lines();
  EXPECT_GE(lines.size(), 3u);
  for (auto& l : lines) EXPECT_EQ(l.find(token), std::string::npos) << l;
  for (auto& e : errors) EXPECT_EQ(e.find(token), std::string::npos) << e;
}

TEST_F(GitLabApiTest, CallsFromManyThreadsAtOnce) {
  auto a = api();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        if (a->get_project(i % 2 ? "5" : "grp/app").id == 5) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

}  // namespace
}  // namespace ccmux::gitlab
