// Boundary: tool inputs (from a model, a hook's tool_input, a policy's updated_input) into
// Lua policies. The input is the tool input JSON; it goes through the built-in default
// policy and through one that walks the whole input and hands it back as updated_input
// (both directions of the JSON<->Lua conversion).
#include "fuzz_daemon.h"
#include "lua_policy_check.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>

using namespace ccmux;

namespace {
const char* const kEcho = R"lua(
local function walk(v, depth)
  if type(v) ~= "table" then return 1 end
  local n = 0
  for k, x in pairs(v) do n = n + walk(x, depth + 1) end
  return n
end
function decide(r)
  local i = r.input
  local reason = tostring(walk(i, 0))
  if type(i) == "table" then
    reason = reason .. tostring(i.command) .. tostring(i.file_path) .. tostring(i[1])
  end
  return {decision = "allow", reason = reason, updated_input = i}
end
)lua";

const char* const kTools[] = {"Bash", "Read", "Write", "Edit", "Glob", "Grep", "mcp__srv__tool", "AskUserQuestion"};

LuaPolicy* make(const char* name, const char* source) {
  auto* p = new LuaPolicy(name, LuaLimits{16u << 20, 1000000});
  std::string err = p->load(source);
  if (!err.empty()) {
    std::fprintf(stderr, "%s does not load: %s\n", name, err.c_str());
    std::abort();
  }
  return p;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet_logs();
  static LuaPolicy* echo = make("echo.lua", kEcho);
  static LuaPolicy* def = make("default.lua", kBuiltinDefaultPolicy);
  auto input = nlohmann::json::parse(data, data + size, nullptr, false);
  if (input.is_discarded()) return 0;
  PolicyRequest req{kTools[size % std::size(kTools)], input, "s-fuzz", "/home/user/proj", "sonnet",
                    nlohmann::json::array()};
  fuzz::check_verdict(echo->decide(req), "echo.lua", true);
  fuzz::check_verdict(def->decide(req), "default.lua", true);
  return 0;
}
