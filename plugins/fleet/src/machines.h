// What this machine knows of the others, from their heartbeats (docs/fleet.md): up, down
// (no heartbeat for down_after_ms) or incompatible (another fleet protocol major), their
// room, and the sessions they listed last (kept while they are down: unreachable, not lost).
// Loop thread only.
#pragma once

#include "wire.h"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace ccmux::fleet {

struct Machine {
  std::string name;
  std::string state = "up";  // up, down, incompatible
  std::string reason;        // why incompatible / down
  json heartbeat = json::object();
  std::chrono::steady_clock::time_point seen;
  int64_t seen_ms = 0;  // wall clock, for clients
  int64_t started_ms = 0;
  std::string instance;  // per start: a change is a restart even within one millisecond
  uint64_t approvals_rev = UINT64_MAX;  // the revision shown here; MAX: never fetched
  int64_t approvals_started_ms = 0;
  json sessions = json::array();  // the last session list it gave (prefixed)
  bool sessions_known = false;
};

class MachineTable {
 public:
  explicit MachineTable(std::string self) : self_(std::move(self)) {}
  // A heartbeat arrived. Returns true when the machine is new, came back from down, or
  // restarted (its subscriptions and approvals must be asked again).
  bool heard(const std::string& name, const json& hb, const std::string& problem);
  // Machines silent for `down_after`: marked down; their names returned.
  std::vector<std::string> sweep(std::chrono::milliseconds down_after);
  Machine* find(const std::string& name);
  std::map<std::string, Machine>& all() { return machines_; }
  std::vector<std::string> up() const;
  // One machine as fleet.machines shows it.
  json describe(const Machine& m) const;

 private:
  std::string self_;
  std::map<std::string, Machine> machines_;
};

}  // namespace ccmux::fleet
