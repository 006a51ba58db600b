#include "shell_words.h"

namespace ccmux::approval {

namespace {

bool glob_char(char c) { return c == '*' || c == '?' || c == '['; }

}  // namespace

bool has_shell_operators(const std::string& c) {
  return c.find_first_of(";&|<>`$()\n\r\\{}") != std::string::npos;
}

std::optional<std::vector<ShellWord>> shell_words(const std::string& line) {
  if (has_shell_operators(line)) return std::nullopt;
  std::vector<ShellWord> words;
  ShellWord cur;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(cur));
      cur = ShellWord{};
      in_word = false;
      continue;
    }
    // Bash splits on space and tab only: a \v or \f would join words we split. Not ours to read.
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
    if (c == '#' && !in_word) break;  // a comment: bash runs nothing of it
    if (c == '\'' || c == '"') {
      size_t end = line.find(c, i + 1);
      if (end == std::string::npos) return std::nullopt;  // unbalanced: bash would fail or read on
      for (size_t k = i + 1; k < end; ++k) {
        cur.text += line[k];
        if (glob_char(line[k])) cur.pattern += '\\';
        cur.pattern += line[k];
      }
      in_word = true;
      i = end;
      continue;
    }
    if (glob_char(c)) {
      if (cur.text.empty()) cur.glob_first = true;
      cur.glob = true;
    }
    cur.text += c;
    cur.pattern += c;
    in_word = true;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

}  // namespace ccmux::approval
