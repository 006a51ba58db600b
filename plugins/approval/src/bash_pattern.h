// The pattern of one Bash command line: program, sub-command and the set of its flags (values
// and positional arguments left out, so they may vary, but every path among them must lead
// inside the session folder):
//   find . -maxdepth 1 -name x   Bash:find -maxdepth -name
//   git log --oneline -5         Bash:git log --oneline -N
//   git stash list               Bash:git stash list       (nested sub-commands: positionals count)
//   sed -n 1,5p notes.txt        Bash:sed -n 1,5p notes.txt (the first argument is code: whole line)
// nullopt — never learned, never auto-approved below autonomy 3 — for a line with shell
// operators, an assignment (FOO=1 cmd), a word that could glob into a flag (`rm *`), a path that
// leads outside the folder, and the destructive or exec-like commands of danger.h.
#pragma once

#include <optional>
#include <string>

namespace ccmux::approval {

std::optional<std::string> bash_pattern(const std::string& command, const std::string& cwd);

}  // namespace ccmux::approval
