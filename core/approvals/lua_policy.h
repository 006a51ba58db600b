// One sandboxed Lua 5.4 policy script. A script defines decide(req) and returns
// "allow" | "deny" | "ask" | nil, optionally a reason, or a table
// {decision=, reason=, updated_input=}. Every call and load runs in protected mode under
// an instruction budget (that pcall cannot swallow) and a memory cap; any error means "ask".
//
// In ccmuxd a LuaPolicy lives only inside the policy worker process (policy_worker.h):
// Lua code that escapes the budget in C (the pattern matcher, fnmatch) is stopped there by
// a wall clock, and a crash takes the worker down, not the daemon.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

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

  // Internal state the C callbacks reach through the Lua state's extra space.
  bool budget_exhausted = false;
  int logs_this_call = 0;

 private:
  // Runs `fn` (a lua_CFunction) protected, with the budget armed; returns the Lua status.
  int run_protected(int (*fn)(lua_State*), void* arg, int nresults);
  std::string status_error(int rc);

  std::string name_;
  LuaLimits limits_;
  lua_State* L_ = nullptr;
  std::string setup_error_;
  size_t used_ = 0;
  static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize);
};

}  // namespace ccmux
