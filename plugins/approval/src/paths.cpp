#include "paths.h"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

namespace ccmux::approval {

namespace {

constexpr int kMaxSymlinks = 40;          // the kernel's limit (ELOOP)
constexpr size_t kMaxGlobEntries = 5000;  // directory entries one glob word may visit

std::vector<std::string> components(const std::string& p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string s;
  for (auto& c : parts) s += "/" + c;
  return s.empty() ? "/" : s;
}

// `path` made absolute: "~" expanded, relative paths taken from `base`.
std::optional<std::string> absolute_of(const std::string& path, const std::string& base) {
  if (path.empty()) return std::nullopt;
  if (path[0] == '~') {
    size_t slash = path.find('/');
    if (slash != 1 && path.size() != 1) return std::nullopt;  // ~user
    const char* home = std::getenv("HOME");
    if (!home || home[0] != '/') return std::nullopt;
    return std::string(home) + (slash == std::string::npos ? "" : path.substr(slash));
  }
  if (path[0] == '/') return path;
  if (base.empty()) return std::nullopt;
  auto b = absolute_of(base, "");
  if (!b) return std::nullopt;
  return *b + "/" + path;
}

// The real path of an absolute path the way the kernel walks it: symlinks followed (also a
// dangling one), ".." after a symlink is the parent of its target. Below the first component
// that does not exist nothing can be a symlink, so the rest is taken as written.
std::optional<std::string> real_path(const std::string& abs) {
  std::vector<std::string> todo = components(abs);  // consumed from the front
  std::reverse(todo.begin(), todo.end());
  std::vector<std::string> out;
  bool missing = false;
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.back());
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      missing = false;  // back in a folder that may exist: look again
      continue;
    }
    out.push_back(c);
    if (missing) continue;
    std::string cur = join(out);
    struct stat st {};
    if (lstat(cur.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        missing = true;
        continue;
      }
      return std::nullopt;  // EACCES, ENAMETOOLONG…: cannot tell
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > kMaxSymlinks) return std::nullopt;
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 0) + 256, '\0');
    ssize_t n = readlink(cur.c_str(), target.data(), target.size());
    if (n <= 0 || static_cast<size_t>(n) >= target.size()) return std::nullopt;
    target.resize(static_cast<size_t>(n));
    out.pop_back();
    if (target[0] == '/') out.clear();
    auto more = components(target);
    for (auto it = more.rbegin(); it != more.rend(); ++it) todo.push_back(*it);
  }
  return join(out);
}

// `p` relative to `root` when p is root or below it (both real, absolute).
std::optional<std::string> below(const std::string& p, const std::string& root) {
  if (p == root) return std::string(".");
  std::string prefix = root == "/" ? root : root + "/";
  if (p.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return p.substr(prefix.size());
}

bool has_glob(const std::string& pattern_component) {
  for (size_t i = 0; i < pattern_component.size(); ++i) {
    char c = pattern_component[i];
    if (c == '\\') ++i;
    else if (c == '*' || c == '?' || c == '[') return true;
  }
  return false;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

}  // namespace

std::optional<std::string> relative_inside(const std::string& path, const std::string& root) {
  auto r_abs = absolute_of(root, "");
  auto p_abs = absolute_of(path, root);
  if (!r_abs || !p_abs) return std::nullopt;
  auto r = real_path(*r_abs);
  auto kernel = real_path(*p_abs);
  auto lexical = real_path(std::filesystem::path(*p_abs).lexically_normal().string());
  if (!r || !kernel || !lexical || !below(*lexical, *r)) return std::nullopt;
  return below(*kernel, *r);
}

std::optional<std::vector<std::string>> glob_matches(const std::string& pattern, const std::string& literal,
                                                     const std::string& base) {
  std::vector<std::string> found = {literal};
  std::string start;
  std::string rest = pattern;
  if (!pattern.empty() && pattern[0] == '/') {
    start = "/";
  } else if (!pattern.empty() && pattern[0] == '~') {
    return found;  // "~…" cannot start with a glob; its literal is checked by the caller
  } else {
    start = base;
  }
  std::vector<std::string> parts = components(rest);
  std::vector<std::string> level = {start};
  size_t visited = 0;
  for (auto& part : parts) {
    std::vector<std::string> next;
    for (auto& dir : level) {
      std::string sep = dir.empty() || dir.back() == '/' ? "" : "/";
      if (!has_glob(part)) {
        next.push_back(dir + sep + unescape(part));
        continue;
      }
      DIR* d = opendir(dir.c_str());
      if (!d) continue;
      while (dirent* e = readdir(d)) {
        if (++visited > kMaxGlobEntries) {
          closedir(d);
          return std::nullopt;
        }
        // No FNM_PERIOD: "*" also matches dotfiles here, whatever the shell's dotglob says.
        if (fnmatch(part.c_str(), e->d_name, 0) == 0) next.push_back(dir + sep + e->d_name);
      }
      closedir(d);
    }
    level = std::move(next);
    if (level.empty()) break;
  }
  for (auto& m : level) found.push_back(m);
  return found;
}

}  // namespace ccmux::approval
