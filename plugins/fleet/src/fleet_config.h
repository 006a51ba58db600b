// The fleet plugin's configuration (README.md lists the keys), read and checked at start.
// The credentials file's contents go into LinkOptions only: never into a message or a log.
#pragma once

#include "nats_link.h"

#include <string>
#include <string_view>

namespace ccmux::fleet {

struct FleetConfig {
  std::string machine;  // this machine's name
  std::string fleet;    // the subject namespace: ccmux.<fleet>.
  LinkOptions link;
  int heartbeat_ms = 2000;
  int down_after_ms = 6000;
  int request_timeout_ms = 30000;
  int64_t window_bytes = 4 << 20;
  std::string subject(const std::string& machine, const std::string& leaf) const {
    return "ccmux." + fleet + "." + machine + "." + leaf;
  }
};

// Throws std::runtime_error with a message naming the key (and file) at fault.
FleetConfig parse_fleet_config(std::string_view config_json);

// Reads a credentials file into `link`: refused unless mode 0600 or stricter. Accepts
// "user:password" (first line), an NKey seed ("SU…", with `nkey_public`) or a .creds file.
void load_credentials(const std::string& path, const std::string& nkey_public, LinkOptions& link);

// True for nats://127.0.0.1, localhost, [::1] (plain text allowed there).
bool loopback_url(const std::string& url);

}  // namespace ccmux::fleet
