// Boundary: what a policy script does and returns. The input is a whole policy script:
// loaded (top level runs), asked twice (state kept between calls), then dropped.
//
// First as the daemon runs it: through PolicyEngine and its policy worker process, with the
// wall clock (2 s here). Whatever the script does, every call must come back with a valid
// verdict; a worker killed for overrunning the clock is the design working (the pattern
// matcher, for one, cannot be bounded inside Lua), a worker that dies any other way (an
// ASan report, a signal, a Lua panic) is a finding and aborts with its reason.
// Then, only when the worker finished every call in time, the same script runs in-process
// (LuaPolicy, same limits): that is where libFuzzer sees coverage of the Lua bindings and
// where ASan/UBSan watch them; it cannot hang, since the worker just ran it to the end.
#include "fuzz_daemon.h"
#include "lua_policy_check.h"
#include "approvals/policy_engine.h"
#include "util.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

using namespace ccmux;

namespace {
const LuaLimits kLimits{8u << 20, 100000};
constexpr double kTimeoutS = 2.0;  // the wall clock per load or decide (approval.lua_timeout_ms)

struct Harness {
  std::string dir;
  EventLoop loop;
  PolicyEngine engine{loop, PolicyEngine::Options{kLimits, kTimeoutS, "/proc/self/exe"}};
  uint64_t inputs = 0;
  Harness() {
    std::string tmpl = "/dev/shm/ccmux-fuzz-lua-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    dir = tmpl;
  }
};

// After a load or decide: true when the worker finished it in time; false when it ran into
// the clock (the engine answers at once and kills the worker: by design); aborts when the
// worker died on its own. Told apart without reading any text (a script's error message can
// say anything): a worker that died is gone when the call returns, and only the clock ends
// a call after kTimeoutS.
bool finished(PolicyEngine& engine, double took_s, const std::string& source) {
  if (took_s >= kTimeoutS * 0.9) return false;
  if (engine.worker_pid() != 0) return true;
  std::fprintf(stderr,
               "lua_return: the policy worker died after %.3f s (CCMUX_FUZZ_VERBOSE=1 shows its stderr)\nscript: %.400s\n",
               took_s, source.c_str());
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet_logs();
  static Harness* h = new Harness();  // never destroyed: libFuzzer exits without unwinding
  std::string source(reinterpret_cast<const char*>(data), size);
  static const PolicyRequest req{"Bash",
                                 {{"command", "ls -la"}, {"n", 3}, {"list", {1, "two", nullptr}}, {"obj", {{"a", {{"b", true}}}}}},
                                 "s-fuzz",
                                 "/home/user/proj",
                                 "sonnet",
                                 nlohmann::json::array()};
  // Two names in turn: loading one drops the other, so a script that fails to load never
  // leaves an earlier input's script in place under its name.
  std::string spec = h->dir + "/p" + std::to_string(h->inputs++ % 2) + ".lua";
  std::ofstream(spec, std::ios::binary) << source;

  double t0 = monotonic_s();
  std::vector<std::string> errors = h->engine.load_sync({spec});
  bool loaded = errors.empty();
  bool in_time = finished(h->engine, monotonic_s() - t0, source);
  for (int call = 0; call < 2 && loaded && in_time; ++call) {
    t0 = monotonic_s();
    PolicyEngine::Decision d = h->engine.evaluate_sync(req);
    in_time = finished(h->engine, monotonic_s() - t0, source);
    fuzz::check_verdict(d.verdict, "policy worker", false);
    if (!d.verdict.error.empty() && d.verdict.decision != "ask") {
      std::fprintf(stderr, "lua_return: a failed script gave '%s', not ask\n", d.verdict.decision.c_str());
      std::abort();
    }
  }
  if (!loaded || !in_time) return 0;

  LuaPolicy p("fuzz.lua", kLimits);
  if (!p.load(source).empty()) return 0;
  fuzz::check_verdict(p.decide(req), "fuzz.lua", true);
  fuzz::check_verdict(p.decide(req), "fuzz.lua (second call)", true);
  return 0;
}
