#include "util.h"

#include <cstdio>
#include <cstring>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <sys/random.h>

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

bool path_inside(const std::string& path, const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(expand_home(path), ec), ec);
  if (ec) return false;
  fs::path r = fs::weakly_canonical(fs::absolute(expand_home(root), ec), ec);
  if (ec) return false;
  auto rit = r.begin();
  auto pit = p.begin();
  for (; rit != r.end(); ++rit, ++pit) {
    if (rit->empty()) continue;  // trailing slash
    if (pit == p.end() || *pit != *rit) return false;
  }
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
