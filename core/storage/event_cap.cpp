#include "storage/event_cap.h"

#include "unique_fd.h"
#include "sha256.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <filesystem>
#include <unistd.h>

namespace ccmux {

namespace {

// The longest prefix of `s` of at most `n` bytes that does not split a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void append_escaped(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
  out += '"';
}

// Writes the DOM back with long strings cut; gives up (false) once `budget` is passed.
struct Shrinker {
  size_t cut;
  size_t budget;
  std::string out;

  bool value(simdjson::dom::element e) {
    if (out.size() > budget) return false;
    switch (e.type()) {
      case simdjson::dom::element_type::ARRAY: {
        simdjson::dom::array arr;
        if (e.get_array().get(arr) != simdjson::SUCCESS) return false;
        out += '[';
        bool first = true;
        for (simdjson::dom::element child : arr) {
          if (!first) out += ',';
          first = false;
          if (!value(child)) return false;
        }
        out += ']';
        return true;
      }
      case simdjson::dom::element_type::OBJECT: {
        simdjson::dom::object obj;
        if (e.get_object().get(obj) != simdjson::SUCCESS) return false;
        out += '{';
        bool first = true;
        for (auto field : obj) {
          if (!first) out += ',';
          first = false;
          append_escaped(out, utf8_prefix(field.key, cut));
          out += ':';
          if (!value(field.value)) return false;
        }
        out += '}';
        return true;
      }
      case simdjson::dom::element_type::STRING: {
        std::string_view str;
        if (e.get_string().get(str) != simdjson::SUCCESS) return false;
        append_escaped(out, utf8_prefix(str, cut));
        return true;
      }
      default:  // numbers, true, false, null
        out += simdjson::to_string(e);
        return true;
    }
  }
};

bool write_whole(const std::string& path, std::string_view data, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    error = "cannot create " + fs::path(path).parent_path().string() + ": " + ec.message();
    return false;
  }
  fs::permissions(fs::path(path).parent_path().parent_path(), fs::perms::owner_all, ec);
  fs::permissions(fs::path(path).parent_path(), fs::perms::owner_all, ec);
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    error = "cannot write " + path + ": " + strerror(errno);
    return false;
  }
  (void)fchmod(fd.get(), 0600);  // a file left from before keeps its mode under O_TRUNC
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot write " + path + ": " + strerror(errno);
      fd.reset();
      unlink(path.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (fd.close_checked() != 0) {  // some file systems report a full disk only here
    error = "cannot write " + path + ": " + strerror(errno);
    unlink(path.c_str());
    return false;
  }
  return true;
}

}  // namespace

EventCap::EventCap(size_t limit, std::string dir) : limit_(limit), dir_(std::move(dir)) {}

std::string EventCap::file_for(const std::string& session, uint64_t seq) const {
  return dir_ + "/" + session + "/" + std::to_string(seq) + ".json";
}

std::string EventCap::cap(const std::string& session, uint64_t seq, std::string payload) const {
  if (!over(payload)) return payload;
  std::string file = file_for(session, seq), error;
  if (!write_whole(file, payload, error)) {
    spdlog::error("event {} of {}: {}", seq, session, error);
    file.clear();
  }
  spdlog::info("event {} of {}: {} bytes, over claude.max_event_bytes ({}): stored cut, whole in {}", seq, session,
               payload.size(), limit_, file.empty() ? "(nowhere: " + error + ")" : file);
  return shrink(payload, limit_, file, error);
}

std::string EventCap::shrink(std::string_view payload, size_t limit, const std::string& file,
                             const std::string& file_error) {
  // Long enough to read what it was, short enough that a few of them fit the limit.
  size_t cut = std::clamp<size_t>(limit / 16, 256, 64 << 10);
  nlohmann::json info = {{"bytes", payload.size()},
                         {"sha256", sha256_hex(payload)},
                         {"limit", limit},
                         {"strings_cut_at", cut}};
  if (!file.empty()) info["file"] = file;
  if (!file_error.empty()) info["file_error"] = file_error;
  std::string tail = R"("ccmux_truncated":)" + info.dump();
  size_t budget = limit > tail.size() + 64 ? limit - tail.size() - 64 : 0;
  {
    simdjson::dom::parser parser;  // local: its buffers (as big as the payload) go with it
    simdjson::dom::element doc;
    Shrinker s{cut, budget, {}};
    if (parser.parse(payload.data(), payload.size()).get(doc) == simdjson::SUCCESS && doc.is_object() &&
        s.value(doc) && s.out.size() <= budget) {
      s.out.pop_back();  // the closing brace
      if (s.out.size() > 1) s.out += ',';
      s.out += tail;
      s.out += '}';
      return s.out;
    }
  }
  // Not an object, too deep for the parser, or too many small parts: a head of the text.
  nlohmann::json head = {{"ccmux_truncated", info},
                         {"head", std::string(utf8_prefix(payload, std::min(cut, budget / 2)))}};
  return head.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ccmux
