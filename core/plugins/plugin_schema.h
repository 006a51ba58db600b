// The schema a plugin declares in its descriptor, in the type the core's own sections use
// (config_schema.h): SDK 1.4 ccmux_config_spec (type, default, range, choices) or the
// 1.0-1.3 ccmux_config_key (type and required only).
#pragma once

#include "config/config_schema.h"

#include <ccmux/plugin_abi.h>

#include <string>

namespace ccmux {

// Schema of the entry `plugins.<entry_name>`. Throws std::invalid_argument when the
// declaration itself is broken (unnamed or duplicate key, unknown type, min > max, a default
// that fails its own checks, a name the host keeps for itself).
SectionSchema plugin_schema(const std::string& entry_name, const ccmux_plugin_descriptor& d);

}  // namespace ccmux
