#include "conn_limits.h"

namespace ccmux::ws {

std::optional<std::string> ConnectionLimits::refusal(const std::string& address) const {
  if (size_t n = open_from(address); n >= max_per_address_)
    return std::to_string(n) + " WebSockets already open from this address (max_connections_per_address)";
  if (total_ >= max_total_) return std::to_string(total_) + " WebSockets already open (max_connections)";
  return std::nullopt;
}

void ConnectionLimits::opened(const std::string& address) {
  ++per_address_[address];
  ++total_;
}

void ConnectionLimits::closed(const std::string& address) {
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return;  // never counted
  if (--it->second == 0) per_address_.erase(it);
  --total_;
}

size_t ConnectionLimits::open_from(const std::string& address) const {
  auto it = per_address_.find(address);
  return it == per_address_.end() ? 0 : it->second;
}

}  // namespace ccmux::ws
