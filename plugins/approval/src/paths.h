// Where a path really leads, so "inside the project" cannot be fooled by its text:
//   "~" and "~/…" are $HOME ("~user" is someone else's home: unknown), a relative path is
//   taken from `base`, every symlink is followed — a dangling one too, so a file about to be
//   created through it counts where it would land — and ".." is checked both the kernel's way
//   (after a symlink) and the lexical way (node's path.resolve, which claude's tools use).
// nullopt means "cannot tell" (a symlink loop, an unreadable folder): callers treat it as
// outside. (core/base/util.cpp path_inside does the same for the core; plugins include only
// sdk/ headers, hence the second copy.)
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ccmux::approval {

// The path of `path` relative to `root` ("." for root itself) when it leads inside root.
std::optional<std::string> relative_inside(const std::string& path, const std::string& root);

// The paths a shell glob word matches, `pattern` taken from `base` when relative. Quoted
// metacharacters arrive escaped with a backslash. Without a match the shell keeps the word as it
// is, so the literal path is always part of the answer. nullopt when matching would visit more
// than a few thousand directory entries (not worth blocking the daemon's loop for).
std::optional<std::vector<std::string>> glob_matches(const std::string& pattern, const std::string& literal,
                                                     const std::string& base);

}  // namespace ccmux::approval
