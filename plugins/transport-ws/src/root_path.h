// Whether a file lies inside a folder once every symlink is resolved. static_root promises
// that no path leaves it; lws' file mount follows symlinks, so what it opened is checked
// after the fact, by descriptor (the kernel's own path of the open file, no race with a
// symlink swapped between a check and the open).
#pragma once

#include <string>

namespace ccmux::ws {

// `root` with symlinks resolved (as far as it exists) and no trailing slash.
std::string canonical_root(const std::string& root);
// Is the canonical `path` `root` itself or below it? ("/srv/web2" is not inside "/srv/web".)
bool path_inside(const std::string& canonical_root, const std::string& path);
// Is the file open on `fd` inside `canonical_root`? False when its path cannot be read.
bool fd_inside(int fd, const std::string& canonical_root);

}  // namespace ccmux::ws
