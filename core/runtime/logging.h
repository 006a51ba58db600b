// Log setup: stderr with timestamps, or journald (priority per line) under systemd.
#pragma once
#include <string>

namespace ccmux {
void setup_logging(const std::string& level);
}
