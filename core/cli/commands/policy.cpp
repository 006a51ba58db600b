// `ccmux policy test`: a dry run of a Lua policy script. Lua lives in ccmuxd (ccmux does not
// link it), so this execs the ccmuxd beside ccmux (else on PATH), which runs the script in the
// same policy worker it uses for real decisions and prints the decision.
#include "commands.h"
#include "paths.h"
#include "run_program.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace ccmux::cli {

namespace {

struct Options {
  std::string file, tool, input, cwd;
};

std::string find_ccmuxd() {
  std::string beside = beside_self("ccmuxd");
  if (!beside.empty() && access(beside.c_str(), X_OK) == 0) return beside;
  return find_on_path("ccmuxd");
}

int policy_test(const Options& o) {
  std::string ccmuxd = find_ccmuxd();
  if (ccmuxd.empty()) {
    std::cerr << "ccmux policy test: no ccmuxd beside ccmux or on PATH (it runs the policy script)\n";
    return 1;
  }
  std::string cwd = o.cwd.empty() ? std::filesystem::current_path().string() : o.cwd;
  // The flag ccmuxd's maybe_run_policy_test() answers (core/approvals/policy_test.h).
  std::vector<std::string> args = {ccmuxd, "--ccmux-policy-test", o.file, o.tool, o.input, cwd};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout << std::flush;
  execv(argv[0], argv.data());
  std::cerr << "ccmux policy test: cannot run " << ccmuxd << ": " << strerror(errno) << "\n";
  return 1;
}

}  // namespace

void add_policy_commands(Commands& c) {
  auto* policy = c.group("policy", "policy tools");
  auto o = std::make_shared<Options>();
  c.local_only(policy, "policy test runs the script here with no daemon; copy the script and run it there");
  auto* test = c.add(policy, "test", "dry-run a Lua policy script", [o] { return policy_test(*o); });
  test->add_option("file", o->file)->required();
  test->add_option("--tool", o->tool)->required();
  test->add_option("--input", o->input)->required();
  test->add_option("--cwd", o->cwd, "session cwd (default: current directory)");
}

}  // namespace ccmux::cli
