// Small helpers the benchmarks share: clocks, medians, /proc memory and waits on a session.
#pragma once

#include "harness.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

namespace ccmux::bench {

using Clock = std::chrono::steady_clock;

inline double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
inline double ms_since(Clock::time_point t0) { return secs(t0, Clock::now()) * 1000; }

template <class T>
T percentile(std::vector<T> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? T{} : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}
template <class T>
T median(std::vector<T> v) {
  return percentile(std::move(v), 0.5);
}

// A "Vm..." line of /proc/<pid>/status in kB (VmRSS now, VmHWM the peak); -1 when absent.
inline long proc_status_kb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

// A process's CPU time (user + system, seconds) from /proc/PID/stat: on shared cores it moves
// far less than wall time, so it is the figure to compare builds by.
inline double process_cpu_s(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  std::istringstream in(line.substr(line.rfind(')') + 2));  // fields from 3 (state) on
  std::string field;
  unsigned long long ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stoull(field);  // utime, stime
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Polls session.get until `state`; throws after `timeout_s`.
inline void wait_for_state(ccmux::Client& c, const std::string& id, const std::string& state, double timeout_s = 60) {
  auto t0 = Clock::now();
  std::string now;
  while ((now = c.request("session.get", {{"session", id}})["state"]) != state) {
    if (secs(t0, Clock::now()) > timeout_s)
      throw std::runtime_error("session " + id + " never became " + state + " (still " + now + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Polls session.get until it has finished `turns` turns and returns it. `poll` 0 spins: for
// figures of a few milliseconds, where a sleep would be part of what is measured.
inline nlohmann::json wait_turns(ccmux::Client& c, const std::string& id, int turns, double timeout_s = 300,
                                 std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
  auto t0 = Clock::now();
  for (;;) {
    nlohmann::json s = c.request("session.get", {{"session", id}});
    if (s["turns"].get<int>() >= turns) return s;
    if (secs(t0, Clock::now()) > timeout_s) throw std::runtime_error("timeout waiting for " + id);
    if (poll.count() > 0) std::this_thread::sleep_for(poll);
  }
}

}  // namespace ccmux::bench
