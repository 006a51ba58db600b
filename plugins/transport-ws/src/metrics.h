// Prometheus text exposition of ccmuxd's `status` result plus the transport's own counters.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace ccmux::ws {

struct TransportCounters {
  uint64_t connections = 0;        // open WebSocket connections
  uint64_t authenticated = 0;      // of which authenticated
  uint64_t auth_failures = 0;      // since start
  uint64_t slow_disconnects = 0;   // closed for a full send queue
  uint64_t refused = 0;            // upgrades refused: too many connections
  uint64_t messages_sent = 0;
};

std::string prometheus_text(const nlohmann::json& status, const TransportCounters& transport);

}  // namespace ccmux::ws
