// UTF-8 care for text from outside (GitLab answers, job logs, hook payloads) that is cut to a
// size or put into JSON: nlohmann's dump() throws type_error 316 on invalid UTF-8, so a
// string cut in the middle of a character would bring down the thread that dumps it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ccmux::gitlab::utf8 {

inline bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The longest prefix of `s` of at most `max` bytes that does not end inside a character.
inline std::string prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  // Back off to the first byte of the character cut at n (at most 3 continuation bytes).
  for (int i = 0; i < 3 && n > 0 && continuation(static_cast<unsigned char>(s[n])); ++i) --n;
  return std::string(s.substr(0, n));
}

// Where a suffix that starts at `at` should start so it does not begin inside a character.
inline size_t suffix_start(std::string_view s, size_t at) {
  for (int i = 0; i < 3 && at < s.size() && continuation(static_cast<unsigned char>(s[at])); ++i) ++at;
  return at;
}

// `s` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD
// (a job log is whatever bytes the job printed).
inline std::string repaired(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = continuation(static_cast<unsigned char>(s[i + k]));
    if (ok && len >= 3) {  // no overlong forms, no surrogates, nothing past U+10FFFF
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      if (c == 0xE0) ok = c1 >= 0xA0;
      else if (c == 0xED) ok = c1 < 0xA0;
      else if (c == 0xF0) ok = c1 >= 0x90;
      else if (c == 0xF4) ok = c1 < 0x90;
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

}  // namespace ccmux::gitlab::utf8
