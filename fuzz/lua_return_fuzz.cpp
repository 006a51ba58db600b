// Boundary: what a policy script does and returns. The input is a whole policy script:
// loaded (top level runs), asked twice (state kept between calls), then closed (finalizers
// run). Whatever it does, load/decide must return, with "ask" for anything invalid.
#include "fuzz_daemon.h"
#include "lua_policy_check.h"

#include <cstdint>

using namespace ccmux;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet_logs();
  std::string source(reinterpret_cast<const char*>(data), size);
  static const PolicyRequest req{"Bash",
                                 {{"command", "ls -la"}, {"n", 3}, {"list", {1, "two", nullptr}}, {"obj", {{"a", {{"b", true}}}}}},
                                 "s-fuzz",
                                 "/home/user/proj",
                                 "sonnet",
                                 nlohmann::json::array()};
  LuaPolicy p("fuzz.lua", LuaLimits{8u << 20, 100000});
  if (!p.load(source).empty()) return 0;
  fuzz::check_verdict(p.decide(req), "fuzz.lua");
  fuzz::check_verdict(p.decide(req), "fuzz.lua (second call)");
  return 0;
}
