// What a tool call "is like": the generalised key the approval plugin learns on.
//   file tools  Edit:src/*.cpp      (folder and extension inside the session cwd, after symlinks,
//                                    "..", "~"; dotfiles by name)
//   Bash        Bash:git log -N     (program, sub-command and flag set: bash_pattern.h)
//   WebFetch    WebFetch:docs.rs    (host)
//   others      Grep:src, WebSearch, mcp__server__tool
// No key (nullopt) means "never learned, never auto-approved".
#pragma once

#include "shell_words.h"  // has_shell_operators

#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>

namespace ccmux::approval {

struct Pattern {
  std::string key;    // e.g. "Bash:git status"
  bool read_only;     // a read-only tool inside the cwd (autonomy 2 approves these)
};

std::optional<Pattern> pattern_of(const std::string& tool, const nlohmann::json& input, const std::string& cwd);

// False for a stored key that today's rules would never produce, whatever cwd: a "Bash:…" key
// naming a destructive or exec-like command (learned by an older version, or edited in the
// store). Checked when a pattern is matched, so such a key cannot approve anything.
bool key_allowed(const std::string& key);

// Tools that read only; auto-approved at autonomy 2 when their path is inside the cwd.
const std::set<std::string>& read_only_tools();

}  // namespace ccmux::approval
