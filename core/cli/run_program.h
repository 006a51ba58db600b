// Runs another program (claude --version, systemctl, ccmuxd --check-config) with a deadline,
// for `ccmux doctor`: a program that hangs is killed, never waited for.
#pragma once

#include <string>
#include <vector>

namespace ccmux::cli {

struct ProgramRun {
  bool started = false;    // false: could not be run at all (`output` says why)
  bool timed_out = false;  // killed at the deadline
  int exit_code = -1;      // 128 + signal when killed by one
  std::string output;      // stdout and stderr together (the first 64 KiB)
};

// argv[0] is looked up on PATH when it has no '/'. stdin is /dev/null.
ProgramRun run_program(const std::vector<std::string>& argv, double timeout_s);
// The first executable `name` on PATH, or "".
std::string find_on_path(const std::string& name);
// The first line of `text`, without trailing blanks.
std::string first_line(const std::string& text);

}  // namespace ccmux::cli
