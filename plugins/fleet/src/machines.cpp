#include "machines.h"

namespace ccmux::fleet {

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

bool MachineTable::heard(const std::string& name, const json& hb, const std::string& problem) {
  auto [it, fresh] = machines_.try_emplace(name);
  Machine& m = it->second;
  m.name = name;
  std::string before = m.state;
  int64_t started = get_int(hb, "started_ms");
  std::string instance = get_str(hb, "instance");
  bool restarted = !fresh && (started != m.started_ms || instance != m.instance);
  m.instance = instance;
  m.heartbeat = hb;
  m.seen = std::chrono::steady_clock::now();
  m.seen_ms = now_ms();
  m.started_ms = started;
  m.state = problem.empty() ? "up" : "incompatible";
  m.reason = problem;
  return fresh || restarted || (before != "up" && m.state == "up");
}

std::vector<std::string> MachineTable::sweep(std::chrono::milliseconds down_after) {
  std::vector<std::string> gone;
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, m] : machines_)
    if (m.state != "down" && now - m.seen > down_after) {
      m.state = "down";
      m.reason = "no heartbeat for " + std::to_string(down_after.count() / 1000.0).substr(0, 4) + " s";
      gone.push_back(name);
    }
  return gone;
}

Machine* MachineTable::find(const std::string& name) {
  auto it = machines_.find(name);
  return it == machines_.end() ? nullptr : &it->second;
}

std::vector<std::string> MachineTable::up() const {
  std::vector<std::string> out;
  for (auto& [name, m] : machines_)
    if (m.state == "up") out.push_back(name);
  return out;
}

json MachineTable::describe(const Machine& m) const {
  const json& hb = m.heartbeat;
  json out = {{"name", m.name},
              {"local", m.name == self_},
              {"state", m.state},
              {"version", get_str(hb, "version")},
              {"fleet_protocol", hb.contains("fp") && hb["fp"].is_array() && hb["fp"].size() == 2
                                     ? hb["fp"][0].dump() + "." + hb["fp"][1].dump()
                                     : ""},
              {"live", get_int(hb, "live")},
              {"max_live", get_int(hb, "max_live")},
              {"mem_total", get_int(hb, "mem_total")},
              {"mem_available", get_int(hb, "mem_available")},
              {"sessions", get_int(hb, "sessions")},
              {"pending", get_int(hb, "pending")},
              {"last_seen_ms", m.seen_ms}};
  if (!m.reason.empty()) out["reason"] = m.reason;
  return out;
}

}  // namespace ccmux::fleet
