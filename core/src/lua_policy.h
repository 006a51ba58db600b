// Sandboxed Lua 5.4 policy scripts. A script defines decide(req) and returns
// "allow" | "deny" | "ask" | nil, optionally a reason, or a table
// {decision=, reason=, updated_input=}. Each call runs under an instruction budget
// and a memory cap; any error (syntax, runtime, budget, memory) means "ask".
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

struct lua_State;

namespace ccmux {

struct PolicyRequest {
  std::string tool;
  nlohmann::json input;
  std::string session_id, cwd, model;
  nlohmann::json suggestions;
};

struct PolicyVerdict {
  std::string decision;  // "allow" | "deny" | "ask" | "" (no opinion)
  std::string reason;
  nlohmann::json updated_input;  // null when unchanged
  std::string error;             // set when the script failed (decision is then "ask")
};

struct LuaLimits {
  size_t memory_bytes = 32u << 20;
  int64_t instructions = 1'000'000;
};

class LuaPolicy {
 public:
  LuaPolicy(std::string name, LuaLimits limits);
  ~LuaPolicy();
  LuaPolicy(const LuaPolicy&) = delete;
  LuaPolicy& operator=(const LuaPolicy&) = delete;

  // Compiles and runs the chunk; returns "" or "name:line: error".
  std::string load(const std::string& source);
  PolicyVerdict decide(const PolicyRequest& req);
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  LuaLimits limits_;
  lua_State* L_ = nullptr;
  size_t used_ = 0;
  static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize);
};

// All configured scripts, in order. reload() keeps a script's previous version when
// the new one fails to load.
class PolicyEngine {
 public:
  struct Decision {
    PolicyVerdict verdict;
    std::string decided_by;  // "policy:<name>" when a script allowed or denied
  };
  explicit PolicyEngine(LuaLimits limits) : limits_(limits) {}
  // Returns the errors ("file:line: error"); scripts that fail keep their old version.
  std::vector<std::string> load(const std::vector<std::string>& specs);
  // First allow/deny wins; "ask" or nil goes on to the next script.
  Decision evaluate(const PolicyRequest& req);
  size_t size() const { return scripts_.size(); }

 private:
  LuaLimits limits_;
  std::vector<std::pair<std::string, std::unique_ptr<LuaPolicy>>> scripts_;  // spec, script
};

// The script text for a spec: "builtin:default" or a file path.
bool read_policy_source(const std::string& spec, std::string& source, std::string& error);
extern const char* const kBuiltinDefaultPolicy;  // scripts/default.lua, embedded at build time

}  // namespace ccmux
