// The web page in real headless Chromium (tests/browser/page_test.mjs) against ccmuxd with
// transport-ws, the real claude CLI and the fake Messages API. Screenshots are kept in
// <build>/tests/artifacts/web-page/ for a person to look at.
#include "e2e.h"
#include "ws_client.h"

#include <filesystem>

using namespace ccmux;
using namespace ccmux::test;

namespace {
// The private Node 22 and playwright-core that `packaging/setup.sh test` unpacks into the
// tree's .test-tools/ (Debian 12's Node 18 is too old for playwright-core); both can be
// pointed elsewhere for a one-off run.
std::string test_node() {
  if (const char* p = getenv("CCMUX_TEST_NODE")) return p;
  return source_dir() + "/.test-tools/node/bin/node";
}
std::string playwright_core() {
  if (const char* p = getenv("PLAYWRIGHT_CORE")) return p;
  return source_dir() + "/.test-tools/node_modules/playwright-core";
}
}  // namespace

class WebPageE2E : public E2E {
 protected:
  void SetUp() override {}
};

TEST_F(WebPageE2E, PhoneSizedPageDrivesASessionThroughApprovalsAndReconnects) {
  std::string pw = playwright_core();
  ASSERT_TRUE(std::filesystem::exists(pw + "/package.json"))
      << "playwright-core not found at " << pw << " (bash packaging/setup.sh test installs it)";
  ASSERT_TRUE(std::filesystem::exists(test_node())) << "no Node at " << test_node() << " (bash packaging/setup.sh test installs it)";
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")) << "Debian's chromium is not installed";
  int port = free_tcp_port();
  DaemonOptions o;
  o.extra_yaml = "plugins:\n  - name: transport-ws\n    search_dir: " + build_dir() + "/plugins\n    required: true\n" +
                 "    port: " + std::to_string(port) + "\n    static_root: " + source_dir() + "/plugins/transport-ws/web\n" +
                 "  - name: approval\n    search_dir: " + build_dir() + "/plugins\n    level: 2\n";
  start(o);
  // The project is a git repository: the page starts a session in a worktree of it too (issue 15).
  for (std::vector<std::string> args : {std::vector<std::string>{"init", "-q", "-b", "main"}, {"commit", "-q", "--allow-empty", "-m", "first"}}) {
    args.insert(args.begin(), {"/usr/bin/git", "-C", daemon->project(), "-c", "user.name=t", "-c", "user.email=t@example.com"});
    std::string git_out;
    ASSERT_EQ(run_command(args, &git_out), 0) << git_out;
  }
  std::string token = daemon->connect()->request("token.create", {{"name", "browser"}})["token"];
  std::string artifacts = build_dir() + "/tests/artifacts/web-page";
  std::filesystem::remove_all(artifacts);
  std::string out;
  int rc = run_command({test_node(), source_dir() + "/tests/browser/page_test.mjs"}, &out,
                       {"HOME=" + dir.path + "/browser-home", "PLAYWRIGHT_CORE=" + pw,
                        "CCMUX_URL=http://127.0.0.1:" + std::to_string(port) + "/", "CCMUX_TOKEN=" + token,
                        "CCMUX_PROJECT=" + daemon->project(), "CCMUX_SOCKET=" + daemon->socket(), "ARTIFACTS=" + artifacts});
  std::cout << out << "screenshots: " << artifacts << "\n";
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("PAGE TEST PASSED"), std::string::npos) << out;
  // What the page did reached the real world: the approved command ran in the project…
  EXPECT_EQ(read_file(daemon->project() + "/phone.txt"), "approved-from-phone\n");
  EXPECT_EQ(read_file(daemon->project() + "/notes.md"), "first line\nsecond line from the phone\n");
  EXPECT_TRUE(std::filesystem::exists(daemon->project() + "/taught-2.txt"));  // approved by the learned pattern
  // …and the photo went to the API as an image content block.
  std::string requests = read_file(dir.path + "/api-requests.ndjson");
  EXPECT_NE(requests.find("\"type\": \"image\""), std::string::npos) << requests.substr(0, 2000);
  EXPECT_TRUE(std::filesystem::exists(artifacts + "/03-approval.png"));
}
