// What the daemon does with a verdict after decide(): it must hold for any verdict.
#pragma once

#include "lua_policy.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

namespace ccmux::fuzz {

inline void check_verdict(const PolicyVerdict& v, const char* who) {
  if (v.decision != "allow" && v.decision != "deny" && v.decision != "ask" && v.decision != "") {
    std::fprintf(stderr, "%s: decide() gave decision '%s'\n", who, v.decision.c_str());
    std::abort();
  }
  // The supervisor writes an allowed updated_input to claude with json::dump() (strict
  // UTF-8): a verdict that cannot be serialised that way would throw inside the loop.
  nlohmann::json to_claude = {{"behavior", "allow"}, {"updatedInput", v.updated_input}};
  std::string line = to_claude.dump();
  (void)line;
}

}  // namespace ccmux::fuzz
