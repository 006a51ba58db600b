#include "shim/holder_protocol.h"

namespace ccmux::shim {

std::string encode_frame(std::string_view payload) {
  std::string out;
  out.reserve(4 + payload.size());
  uint32_t n = static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload);
  return out;
}

uint32_t FrameReader::pending_length() const {
  if (buf_.size() - pos_ < 4) return 0;
  auto b = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

FrameReader::Status FrameReader::next(std::string_view& payload) {
  if (pos_ > 0 && pos_ == buf_.size()) {  // everything consumed: start over (keeps the buffer small)
    buf_.clear();
    pos_ = 0;
    if (buf_.capacity() > (1u << 20)) buf_.shrink_to_fit();
  }
  if (buf_.size() - pos_ < 4) return Status::kNeedMore;
  uint32_t n = pending_length();
  if (n == 0 || n > kMaxFrame) return Status::kBad;
  if (buf_.size() - pos_ - 4 < n) {
    if (pos_ > 0) {  // move the partial frame to the front so the buffer does not grow with the stream
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    if (buf_.capacity() < size_t{n} + 4) buf_.reserve(size_t{n} + 4);
    return Status::kNeedMore;
  }
  payload = std::string_view(buf_.data() + pos_ + 4, n);
  pos_ += 4 + size_t{n};
  return Status::kFrame;
}

void FrameReader::clear() {
  std::string().swap(buf_);
  pos_ = 0;
}

Command split_command(std::string_view payload) {
  size_t sp = payload.find(' ');
  if (sp == std::string_view::npos) return {payload, {}};
  return {payload.substr(0, sp), payload.substr(sp + 1)};
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

bool parse_two_u64(std::string_view s, uint64_t& a, uint64_t& b) {
  size_t sp = s.find(' ');
  if (sp == std::string_view::npos) return false;
  auto x = parse_u64(s.substr(0, sp)), y = parse_u64(s.substr(sp + 1));
  if (!x || !y) return false;
  a = *x;
  b = *y;
  return true;
}

std::string pct_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '%' || c == '=') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

namespace {
int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> pct_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
    if (h < 0 || l < 0) return std::nullopt;
    out.push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return out;
}

std::optional<std::string> decode_tag(std::string_view encoded) {
  for (unsigned char c : encoded)
    if (c <= 0x20 || c >= 0x7f || c == '=') return std::nullopt;
  auto tag = pct_decode(encoded);
  if (!tag || tag->empty() || tag->size() > kMaxTagBytes) return std::nullopt;
  return tag;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_fields(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!s.empty()) {
    size_t sp = s.find(' ');
    std::string_view f = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp + 1);
    if (f.empty()) continue;
    size_t eq = f.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto v = pct_decode(f.substr(eq + 1));
    if (!v) return std::nullopt;
    out.emplace_back(std::string(f.substr(0, eq)), std::move(*v));
  }
  return out;
}

namespace {

// A forward-only JSON reader over one line: enough to walk two object levels and skip any
// other value without recursion.
struct Scan {
  std::string_view s;
  size_t i = 0;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return i < s.size() && s[i] == c;
  }
  // A string at i (after whitespace); `raw` is its text between the quotes, escapes kept.
  bool string(std::string_view& raw) {
    ws();
    if (i >= s.size() || s[i] != '"') return false;
    size_t start = ++i;
    while (i < s.size()) {
      char c = s[i];
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == '"') {
        raw = s.substr(start, i - start);
        ++i;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      ++i;
    }
    return false;
  }
  // Any value, nested or not, by counting brackets outside strings.
  bool skip_value() {
    ws();
    if (i >= s.size()) return false;
    char c = s[i];
    std::string_view unused;
    if (c == '"') return string(unused);
    if (c != '{' && c != '[') {
      size_t start = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
             s[i] != '\r' && s[i] != '\n')
        ++i;
      return i > start;
    }
    size_t depth = 0;
    while (i < s.size()) {
      c = s[i];
      if (c == '"') {
        if (!string(unused)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (depth == 0) return false;
        if (--depth == 0) {
          ++i;
          return true;
        }
      }
      ++i;
    }
    return false;
  }
  // Walks the members of the object at i. `member(key)` returns kRead when it read the value,
  // kSkip to have it skipped here, kBad on an error.
  enum Member { kBad, kRead, kSkip };
  template <class F>
  bool object(F&& member) {
    if (!eat('{')) return false;
    if (eat('}')) return true;
    for (;;) {
      std::string_view key;
      if (!string(key) || !eat(':')) return false;
      Member m = member(key);
      if (m == kBad || (m == kSkip && !skip_value())) return false;
      if (eat(',')) continue;
      return eat('}');
    }
  }
};

}  // namespace

std::optional<ControlResponse> scan_control_response(std::string_view line) {
  // Cheap test first: almost every line ccmuxd writes is a user message or a control request.
  if (line.find("control_response") == std::string_view::npos) return std::nullopt;
  Scan sc{line};
  std::string_view type, rid, behavior;
  bool have_rid = false;
  auto read = [](bool ok) { return ok ? Scan::kRead : Scan::kBad; };
  bool ok = sc.object([&](std::string_view key) {
    if (key == "type") return read(sc.string(type));
    if (key != "response" || !sc.peek('{')) return Scan::kSkip;
    return read(sc.object([&](std::string_view k2) {
      if (k2 == "request_id") return read(have_rid = sc.string(rid));
      if (k2 != "response" || !sc.peek('{')) return Scan::kSkip;
      return read(sc.object([&](std::string_view k3) {
        if (k3 != "behavior" || !sc.peek('"')) return Scan::kSkip;
        return read(sc.string(behavior));
      }));
    }));
  });
  if (!ok) return std::nullopt;
  sc.ws();
  if (sc.i != line.size() || type != "control_response" || !have_rid) return std::nullopt;
  return ControlResponse{rid, behavior};
}

}  // namespace ccmux::shim
