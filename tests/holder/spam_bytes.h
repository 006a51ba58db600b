// What the fake claude's "#fake spam N" writes (fake_claude_holder.cpp), and what the holder
// tests expect to find in the spool: N bytes of numbered ~100-byte JSON lines.
#pragma once

#include <cstddef>
#include <string>

inline std::string spam_bytes(size_t n) {
  std::string out;
  for (size_t line = 0; out.size() < n; ++line) {
    std::string l = "{\"n\":" + std::to_string(line) + ",\"pad\":\"";
    while (l.size() < 97) l += 'x';
    out += l + "\"}\n";
  }
  out.resize(n);
  return out;
}
