// How many WebSockets may be open at once, in total and per remote address. Each one holds
// buffers and a socket for as long as it lives, so an address (or everyone together) gets a
// bounded share; a refused upgrade is answered 503 and costs nothing more.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

namespace ccmux::ws {

class ConnectionLimits {
 public:
  ConnectionLimits(size_t max_total, size_t max_per_address) : max_total_(max_total), max_per_address_(max_per_address) {}

  // Why a new WebSocket from `address` is refused now, or nullopt when it may open.
  std::optional<std::string> refusal(const std::string& address) const;
  void opened(const std::string& address);
  void closed(const std::string& address);

  size_t open_total() const { return total_; }
  size_t open_from(const std::string& address) const;
  size_t tracked_addresses() const { return per_address_.size(); }

 private:
  size_t max_total_, max_per_address_;
  size_t total_ = 0;
  std::unordered_map<std::string, size_t> per_address_;  // only addresses with open sockets
};

}  // namespace ccmux::ws
