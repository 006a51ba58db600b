// Commands that are never learned nor auto-approved below autonomy 3, whatever a person said
// about a similar call: they destroy (rm -rf, find -delete, git push --force, sed -i, …) or run
// another command (xargs, env, bash -c, find -exec, python -c, …). The table and its reasons
// are in the README ("Destructive and exec-like commands").
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ccmux::approval {

// One Bash command as the table sees it.
struct CommandShape {
  std::string program;                   // basename: /usr/bin/find and ./find are "find"
  std::string sub;                       // "push" for git push; "" for programs without one
  std::vector<std::string> flags;        // as written, without "=value": -rf, --force, -delete
  std::vector<std::string> positionals;  // the other words, in order
};

// The name the table knows a program by: python3.11 is python, nodejs is node, pip3 is pip.
std::string program_family(const std::string& name);

// Why the command may not be learned ("find -delete deletes files"), nullopt when it may.
std::optional<std::string> danger_of(const CommandShape& c);

}  // namespace ccmux::approval
