#include "approvals/policy_test.h"

#include "approvals/policy_engine.h"
#include "json_bounds.h"
#include "runtime/event_loop.h"

#include <filesystem>
#include <iostream>
#include <string_view>

namespace ccmux {

using nlohmann::json;

namespace {
int policy_test(const std::string& file, const std::string& tool, const std::string& input, const std::string& cwd) {
  EventLoop loop;
  PolicyEngine engine(loop, PolicyEngine::Options{});  // the same worker process ccmuxd uses
  auto errors = engine.load_sync({file});
  if (!errors.empty()) {
    for (auto& e : errors) std::cerr << e << "\n";
    return 1;
  }
  json in = parse_json_bounded(input);
  if (in.is_discarded() || !in.is_object()) {
    std::cerr << "--input must be a JSON object\n";
    return 1;
  }
  PolicyRequest req{tool, in, "s-test", cwd.empty() ? std::filesystem::current_path().string() : cwd, "", json::array()};
  auto d = engine.evaluate_sync(req);
  std::string decision = d.verdict.decision.empty() ? "none (ask a human)" : d.verdict.decision;
  std::cout << "decision: " << decision << "\n";
  if (!d.verdict.reason.empty()) std::cout << "reason: " << d.verdict.reason << "\n";
  if (!d.verdict.updated_input.is_null()) std::cout << "updated_input: " << d.verdict.updated_input.dump() << "\n";
  if (!d.verdict.error.empty()) {
    std::cout << "error: " << d.verdict.error << "\n";
    return 1;
  }
  return 0;
}
}  // namespace

int maybe_run_policy_test(int argc, char** argv) {
  if (argc != 6 || std::string_view(argv[1]) != kPolicyTestFlag) return -1;
  return policy_test(argv[2], argv[3], argv[4], argv[5]);
}

}  // namespace ccmux
