// Small helpers shared by the core: ids, clocks, path checks.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ccmux {

int64_t now_ms();
double monotonic_s();
// Lowercase hex of `n` bytes.
std::string to_hex(const unsigned char* data, size_t n);
// Random lowercase hex of `bytes` bytes (from the OS random source).
std::string random_hex(size_t bytes);
std::string new_uuid_v4();
// The random part of session and approval ids: 8 hex digits.
std::string id_random();
// Tests only: where id_random() draws from (an empty function: the OS source again).
void set_id_source_for_tests(std::function<std::string()> source);
// `prefix` + id_random(), drawn again while taken(id): 32 random bits collide in a
// long-lived store, and a new session or approval must never take an older one's row.
std::string unique_id(const std::string& prefix, const std::function<bool(const std::string& id)>& taken);
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
