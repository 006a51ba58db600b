#include "claude_spawn.h"

#include <cerrno>
#include <csignal>
#include <spawn.h>
#include <string_view>

extern char** environ;

namespace ccmux {

int spawn_in_own_group(const std::vector<std::string>& argv_in, const std::string& cwd,
                       const std::map<std::string, std::string>& env_overrides, int in, int out, int err, pid_t& pid,
                       bool new_session) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, (new_session ? POSIX_SPAWN_SETSID : POSIX_SPAWN_SETPGROUP) | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);

  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (auto& [k, v] : env_overrides) env[k] = v;
  env.erase("NODE_OPTIONS");
  std::vector<std::string> env_strings, argv_strings = argv_in;
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int rc = argv.size() > 1 ? posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data()) : EINVAL;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

}  // namespace ccmux
