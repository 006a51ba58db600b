// `ccmux gitlab mrs|pipelines|issues PROJECT` against a real ccmuxd: a clear error without
// the gitlab plugin; with it (and the fake GitLab), the watched project's lists as tables.
#include "gitlab_fake.h"
#include "harness.h"

#include <gtest/gtest.h>

namespace ccmux::test {
namespace {

TEST(GitLabCli, WithoutThePluginItSaysThePluginIsNotLoaded) {
  FakeDaemon f;
  std::string out;
  int rc = run_command({ccmux_bin(), "--socket", f.d->socket(), "gitlab", "mrs", "grp/app"}, &out);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("plugin_not_loaded: the gitlab plugin is not loaded on this daemon"), std::string::npos) << out;
}

#ifdef CCMUX_HAS_GITLAB_PLUGIN
TEST(GitLabCli, ListsAWatchedProjectThroughThePlugin) {
  gitlab::test::FakeGitLab gl;
  gl.seed_standard();
  gl.seed({{"projects", {{{"id", 6}, {"path_with_namespace", "grp/secret"}}, {{"id", 8}, {"path_with_namespace", "grp/two"}}}}});
  DaemonOptions o;
  TempDir clone, clone2;
  o.extra_yaml = "plugins:\n  - name: gitlab\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                 "    base_url: " + gl.base_url() + "\n    token: \"" + gl.token() + "\"\n" +
                 "    webhook_secret: \"s3cret\"\n    port: 0\n    projects:\n      grp/app: " + clone.path + "\n" +
                 "      grp/two: " + clone2.path + "\n" +
                 "    allowed_users: [alice]\n";
  FakeDaemon f(o);
  auto cli = [&](std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), {ccmux_bin(), "--socket", f.d->socket(), "gitlab"});
    return run_command(args, out);
  };
  std::string out;
  ASSERT_EQ(cli({"mrs", "grp/app"}, &out), 0) << out << f.d->log();
  EXPECT_NE(out.find("!1"), std::string::npos) << out;
  EXPECT_NE(out.find("Add greeting"), std::string::npos) << out;
  EXPECT_NE(out.find("feature -> main"), std::string::npos) << out;
  EXPECT_NE(out.find("@alice"), std::string::npos) << out;
  ASSERT_EQ(cli({"pipelines", "grp/app"}, &out), 0) << out;
  EXPECT_NE(out.find("#31"), std::string::npos) << out;
  EXPECT_NE(out.find("failed"), std::string::npos) << out;
  ASSERT_EQ(cli({"issues", "grp/app", "--json"}, &out), 0) << out;
  json issues = json::parse(out);
  EXPECT_EQ(issues["issues"][0]["iid"], 3);
  // Not watched: refused, though the token could read it; so is the watched one's id, as
  // the config names it by path (names are matched without asking GitLab).
  EXPECT_EQ(cli({"mrs", "grp/secret"}, &out), 1);
  EXPECT_NE(out.find("not_watched"), std::string::npos) << out;
  EXPECT_EQ(cli({"pipelines", "5"}, &out), 1);
  EXPECT_NE(out.find("not_watched"), std::string::npos) << out;
  // GitLab's own errors come through as codes (a project not asked yet: answers are kept 5 s).
  gl.fault({{"path", "/issues"}, {"status", 403}, {"count", 10}});
  EXPECT_EQ(cli({"issues", "grp/two"}, &out), 1);
  EXPECT_NE(out.find("gitlab_forbidden"), std::string::npos) << out;
  EXPECT_EQ(f.d->log().find(gl.token()), std::string::npos);  // the token is in no log line
}
#endif

}  // namespace
}  // namespace ccmux::test
