#include "util.h"

#include <cstdio>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <stdexcept>
#include <sys/random.h>
#include <vector>

namespace ccmux {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

double monotonic_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (getrandom(raw.data(), bytes, 0) != static_cast<ssize_t>(bytes)) {
    std::random_device rd;  // fallback; getrandom does not fail on Linux >= 3.17
    for (auto& c : raw) c = static_cast<char>(rd());
  }
  return to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string to_hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

namespace {
std::function<std::string()>& id_source() {
  static std::function<std::string()> source;
  return source;
}
}  // namespace

std::string id_random() { return id_source() ? id_source()() : random_hex(4); }

void set_id_source_for_tests(std::function<std::string()> source) { id_source() = std::move(source); }

std::string unique_id(const std::string& prefix, const std::function<bool(const std::string& id)>& taken) {
  for (int draw = 0; draw < 100; ++draw) {
    std::string id = prefix + id_random();
    if (!taken(id)) return id;
  }
  throw std::runtime_error("no free " + prefix + " id after 100 draws");  // only a broken random source
}

std::string new_uuid_v4() {
  std::string h = random_hex(16);
  h[12] = '4';
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string expand_home(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/") + path.substr(1);
}

namespace {

std::vector<std::string> path_components(const std::string& p) {
  std::vector<std::string> out;
  for (size_t i = 0; i <= p.size();) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (j > i) out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join_components(const std::vector<std::string>& parts) {
  std::string s;
  for (auto& c : parts) s += "/" + c;
  return s.empty() ? "/" : s;
}

// Where an absolute path leads the way the kernel walks it: every symlink followed, also a
// dangling one (a file created through it lands at its target), ".." after a symlink is the
// parent of the target. Below the first missing component nothing can be a symlink. nullopt when
// it cannot be told (a loop, an unreadable folder). std::filesystem::weakly_canonical stops at a
// dangling symlink, which is why this is not it. (plugins/approval/src/paths.cpp has the same.)
std::optional<std::string> real_path(const std::string& abs) {
  std::vector<std::string> todo = path_components(abs);
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
      missing = false;
      continue;
    }
    out.push_back(c);
    if (missing) continue;
    std::string cur = join_components(out);
    struct stat st {};
    if (lstat(cur.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR) return std::nullopt;
      missing = true;
      continue;
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > 40) return std::nullopt;  // the kernel's ELOOP limit
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 0) + 256, '\0');
    ssize_t n = readlink(cur.c_str(), target.data(), target.size());
    if (n <= 0 || static_cast<size_t>(n) >= target.size()) return std::nullopt;
    target.resize(static_cast<size_t>(n));
    out.pop_back();
    if (target[0] == '/') out.clear();
    auto more = path_components(target);
    for (auto it = more.rbegin(); it != more.rend(); ++it) todo.push_back(*it);
  }
  return join_components(out);
}

// "~" and "~/…" are $HOME; "~user…" is someone else's home, not a folder named "~user".
std::optional<std::string> absolute_path(const std::string& path) {
  if (path.empty()) return std::nullopt;
  if (path[0] == '~' && path.size() > 1 && path[1] != '/') return std::nullopt;
  std::error_code ec;
  auto abs = std::filesystem::absolute(expand_home(path), ec);
  if (ec) return std::nullopt;
  return abs.string();
}

}  // namespace

bool path_inside(const std::string& path, const std::string& root) {
  auto p = absolute_path(path), r_abs = absolute_path(root);
  if (!p || !r_abs) return false;
  auto r = real_path(*r_abs);
  // ".." is checked the kernel's way and the lexical way (node's path.resolve, used by claude's
  // tools): "link/../x" may be inside for one and outside for the other.
  auto kernel = real_path(*p);
  auto lexical = real_path(std::filesystem::path(*p).lexically_normal().string());
  if (!r || !kernel || !lexical) return false;
  std::string prefix = *r == "/" ? *r : *r + "/";
  for (const std::string* x : {&*kernel, &*lexical})
    if (*x != *r && x->compare(0, prefix.size(), prefix) != 0) return false;
  return true;
}

int64_t process_rss_bytes(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/statm").c_str(), "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

MemInfo read_meminfo() {
  MemInfo m;
  FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return m;
  char name[64];
  long long kb = 0;
  while (std::fscanf(f, "%63s %lld kB", name, &kb) == 2) {
    if (std::strcmp(name, "MemTotal:") == 0) m.total = kb * 1024;
    else if (std::strcmp(name, "MemAvailable:") == 0) m.available = kb * 1024;
    if (m.total && m.available) break;
  }
  std::fclose(f);
  return m;
}

}  // namespace ccmux
