// What the daemon does with a verdict after decide(): it must hold for any verdict.
#pragma once

#include "approvals/lua_policy.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

namespace ccmux::fuzz {

// `in_process`: a LuaPolicy verdict, which the policy worker serialises with invalid UTF-8
// replaced (Lua strings are bytes); otherwise a verdict that came back through the worker
// (PolicyEngine), which the supervisor writes to claude with a strict json::dump().
inline void check_verdict(const PolicyVerdict& v, const char* who, bool in_process) {
  if (v.decision != "allow" && v.decision != "deny" && v.decision != "ask" && v.decision != "") {
    std::fprintf(stderr, "%s: decide() gave decision '%s'\n", who, v.decision.c_str());
    std::abort();
  }
  // Whatever cannot be serialised this way would throw inside the worker or the daemon's loop.
  nlohmann::json to_claude = {{"behavior", "allow"}, {"updatedInput", v.updated_input}, {"reason", v.reason}};
  std::string line = in_process ? to_claude.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                : to_claude.dump();
  (void)line;
}

}  // namespace ccmux::fuzz
