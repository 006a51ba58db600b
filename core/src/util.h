// Small helpers shared by the core: ids, clocks, path checks.
#pragma once
#include <cstdint>
#include <string>

namespace ccmux {

int64_t now_ms();
double monotonic_s();
// Lowercase hex of `n` bytes.
std::string to_hex(const unsigned char* data, size_t n);
// Random lowercase hex of `bytes` bytes (from the OS random source).
std::string random_hex(size_t bytes);
std::string new_uuid_v4();
// Expands a leading "~" to $HOME.
std::string expand_home(const std::string& path);
// True when `path` (resolved through symlinks, also dangling ones, and "..", read both the
// kernel's and the lexical way; "~" is $HOME, "~user" is never inside) lies inside `root`.
bool path_inside(const std::string& path, const std::string& root);
// Resident memory of a process in bytes (/proc/<pid>/statm), 0 when it is gone.
int64_t process_rss_bytes(int pid);
// The machine's memory (/proc/meminfo MemTotal and MemAvailable) in bytes; 0s when unreadable.
struct MemInfo {
  int64_t total = 0, available = 0;
};
MemInfo read_meminfo();

}  // namespace ccmux
