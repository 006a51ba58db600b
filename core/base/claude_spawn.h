// How every claude is started, by ccmuxd (ChildProcess, claude.hold: false) and by the holder
// ccmux-shim alike: its own process group (a signal to the group reaches claude's tools too),
// no signal blocked or ignored (ccmuxd blocks some for its signalfd; the child must not
// inherit that), this process's environment with `env_overrides` on top and NODE_OPTIONS
// removed (as the official SDK does: user flags there break the CLI), stdin/stdout/stderr on
// the given descriptors, in `cwd` ("" = here). argv[0] is a path (no PATH search).
// `new_session`: its own session instead (setsid: also its own group, and no controlling
// terminal), for the holder that must outlive ccmuxd.
#pragma once

#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ccmux {

// 0 with `pid` set, or posix_spawn's error number.
int spawn_in_own_group(const std::vector<std::string>& argv, const std::string& cwd,
                       const std::map<std::string, std::string>& env_overrides, int in, int out, int err, pid_t& pid,
                       bool new_session = false);

}  // namespace ccmux
