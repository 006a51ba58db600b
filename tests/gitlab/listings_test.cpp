// The listing methods' answers (gitlab.mrs / pipelines / issues) against the fake GitLab:
// pending at first and never waiting, then the list; watched projects only; errors as codes.
#include "gitlab_fake.h"
#include "listings.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace ccmux::gitlab {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class ListingsTest : public ::testing::Test {
 protected:
  ListingsTest() : host(&api_table) {
    api_table.struct_size = sizeof api_table;  // answer() never calls the host
    fake.seed_standard();
  }
  std::unique_ptr<Listings> make(std::vector<std::string> allowed, const std::string& token = "") {
    ApiConfig c;
    c.base_url = fake.base_url();
    c.token = token.empty() ? fake.token() : token;
    c.backoff_initial = std::chrono::milliseconds(20);
    api = std::make_shared<GitLabApi>(c);
    ListingsConfig lc;
    lc.allowed_projects = std::move(allowed);
    return std::make_unique<Listings>(host, api, lc);
  }
  // Asks until the answer is not "pending" (as the CLI does), within a deadline.
  json ask(Listings& l, const std::string& kind, const json& params, std::string* error_code = nullptr) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    for (;;) {
      try {
        json r = json::parse(l.answer(kind, params.dump()));
        if (r.value("status", "") != "pending" || Clock::now() > deadline) return r;
      } catch (const MethodError& e) {
        json err = json::parse(e.json());
        if (error_code) *error_code = err["code"];
        return err;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  test::FakeGitLab fake;
  ccmux_host_api api_table{};
  Host host;
  std::shared_ptr<GitLabApi> api;
};

TEST_F(ListingsTest, TheFirstAnswerIsPendingWithoutWaitingThenTheList) {
  fake.fault({{"path", "/projects/grp%2Fapp"}, {"hang", 2}, {"count", 1}});  // a slow GitLab
  auto l = make({"grp/app"});
  auto t0 = Clock::now();
  json first = json::parse(l->answer("mrs", R"({"project":"grp/app"})"));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 0.1);  // the loop thread never waits
  EXPECT_EQ(first["status"], "pending");
  EXPECT_GT(first["retry_after_ms"].get<int>(), 0);
  api->stop();  // as the plugin stops: the fetch in flight ends at once...
  auto t1 = Clock::now();
  l.reset();    // ...so joining the worker does not wait for GitLab
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t1).count(), 1.5);
}

TEST_F(ListingsTest, OpenMergeRequestsPipelinesAndIssues) {
  auto l = make({"grp/app", "5"});
  json mrs = ask(*l, "mrs", {{"project", "grp/app"}});
  ASSERT_EQ(mrs["status"], "ready") << mrs;
  EXPECT_EQ(mrs["project"], "grp/app");
  ASSERT_EQ(mrs["mrs"].size(), 1u);
  EXPECT_EQ(mrs["mrs"][0]["iid"], 1);
  EXPECT_EQ(mrs["mrs"][0]["author"], "alice");
  EXPECT_EQ(mrs["mrs"][0]["source_branch"], "feature");
  json pipelines = ask(*l, "pipelines", {{"project", "grp/app"}});
  ASSERT_EQ(pipelines["pipelines"].size(), 1u);
  EXPECT_EQ(pipelines["pipelines"][0]["id"], 31);
  EXPECT_EQ(pipelines["pipelines"][0]["status"], "failed");
  json issues = ask(*l, "issues", {{"project", 5}});  // by id (a number), configured as "5"
  ASSERT_EQ(issues["issues"].size(), 1u);
  EXPECT_EQ(issues["issues"][0]["title"], "Greeting is rude");
}

TEST_F(ListingsTest, AFreshAnswerIsServedFromTheCache) {
  auto l = make({"5"});
  ask(*l, "mrs", {{"project", "5"}});
  size_t calls = fake.calls().size();
  json again = json::parse(l->answer("mrs", R"({"project":"5"})"));
  EXPECT_EQ(again["status"], "ready");
  EXPECT_EQ(fake.calls().size(), calls);
}

TEST_F(ListingsTest, OnlyWatchedProjectsAreListed) {
  fake.seed({{"projects", {{{"id", 6}, {"path_with_namespace", "grp/secret"}}}}});
  auto l = make({"grp/app"});
  std::string code;
  json r = ask(*l, "mrs", {{"project", "grp/secret"}}, &code);
  EXPECT_EQ(code, "not_watched") << r;
  code.clear();
  ask(*l, "mrs", {{"project", "6"}}, &code);
  EXPECT_EQ(code, "not_watched");
  code.clear();
  ask(*l, "mrs", {{"project", "no/such"}}, &code);
  EXPECT_EQ(code, "not_watched");  // not "not found": says nothing of what the token can see
  code.clear();
  ask(*make({}), "mrs", {{"project", "grp/app"}}, &code);
  EXPECT_EQ(code, "not_watched");
  // Refused at once, without asking GitLab: no rate limit spent, no 403-vs-404 to learn from.
  EXPECT_EQ(fake.calls().size(), 0u) << fake.calls();
}

TEST_F(ListingsTest, AnUnwatchedNameIsRefusedAtOnceEvenForAnIdOfAWatchedProject) {
  auto l = make({"grp/app"});
  for (const char* name : {"grp/secret", "6", "5", "grp%2Fapp", "grp/app/../secret"}) {
    try {
      l->answer("mrs", json{{"project", name}}.dump());
      ADD_FAILURE() << name << " was not refused";
    } catch (const MethodError& e) {
      EXPECT_EQ(json::parse(e.json())["code"], "not_watched") << name;
    }
  }
  EXPECT_EQ(fake.calls().size(), 0u) << fake.calls();
  // The configured name, in another case (GitLab paths are case-insensitive), is listed.
  EXPECT_EQ(ask(*l, "mrs", {{"project", "GRP/App"}})["status"], "ready");
}

TEST_F(ListingsTest, StopFromTwoThreadsAtOnce) {
  for (int i = 0; i < 200; ++i) {
    auto l = make({"grp/app"});
    std::atomic<bool> go{false};
    auto stopper = [&] {
      while (!go) std::this_thread::yield();
      l->stop();
    };
    std::thread a(stopper), b(stopper);
    go = true;
    a.join();  // before the fix: both joined the worker, one threw std::system_error (terminate)
    b.join();
  }
}

TEST_F(ListingsTest, GitLabErrorsAndBadParamsBecomeCodes) {
  std::string code;
  json r = ask(*make({"grp/app"}, "wrong-token"), "mrs", {{"project", "grp/app"}}, &code);
  EXPECT_EQ(code, "gitlab_unauthorized") << r;
  EXPECT_NE(r["message"].get<std::string>().find("token refused"), std::string::npos);
  auto l = make({"grp/app"});
  for (const char* bad : {"[]", "{}", R"({"project":""})", R"({"project":true})", "not json"}) {
    code.clear();
    try {
      l->answer("mrs", bad);
    } catch (const MethodError& e) {
      code = json::parse(e.json())["code"];
    }
    EXPECT_EQ(code, "bad_params") << bad;
  }
  fake.fault({{"path", "/pipelines"}, {"status", 500}, {"count", 100}});
  code.clear();
  ask(*l, "pipelines", {{"project", "grp/app"}}, &code);
  EXPECT_EQ(code, "gitlab_unavailable");
}

}  // namespace
}  // namespace ccmux::gitlab
