// The protocol's request methods (docs/protocol.md), shared by every transport.
#pragma once

#include "core.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace ccmux {

using CommandDone = std::function<void(bool ok, const nlohmann::json& result_or_error)>;

// Runs `method`; calls done exactly once (now, or later for calls that wait on claude).
// True for the methods ccmuxd itself serves (plugins may not take these names).
bool is_builtin_method(const std::string& method);

// Throws CommandError for bad requests. `trusted`: a local-socket client (may manage tokens).
void run_command(Core& core, const std::string& who, bool trusted, const std::string& method,
                 const nlohmann::json& params, CommandDone done);

}  // namespace ccmux
