#include "root_path.h"

#include <unistd.h>

#include <climits>
#include <filesystem>
#include <system_error>

namespace ccmux::ws {

std::string canonical_root(const std::string& root) {
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(root, ec), ec);
  std::string s = ec ? root : p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool path_inside(const std::string& root, const std::string& path) {
  if (root.empty() || path.compare(0, root.size(), root) != 0) return false;
  if (path.size() == root.size()) return true;
  return root == "/" || path[root.size()] == '/';
}

bool fd_inside(int fd, const std::string& root) {
  char buf[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return false;  // fail closed
  return path_inside(root, std::string(buf, static_cast<size_t>(n)));
}

}  // namespace ccmux::ws
