// The holder protocol (v1), both ends: framing, the words of the control lines, the
// percent-encoding of values, and the bounded scan of a control_response line. The holder
// (ccmux-shim) and its client (ccmuxd, the tests) share this file; nothing here allocates
// more than the bytes it is given, and nothing recurses. Frozen once ccmuxd speaks it:
// a change of meaning is protocol 2 (docs/holder.md, decision 4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccmux::shim {

constexpr int kHolderProtocol = 1;
constexpr uint32_t kMaxFrame = 64u << 20;          // payload bytes; more closes the client
constexpr size_t kMaxStdinQueue = 64u << 20;       // bytes queued to claude's stdin; more is refused
constexpr size_t kStderrRing = 64u << 10;          // claude's last stderr bytes kept
constexpr uint64_t kDefaultSegmentBytes = 64u << 20;
constexpr size_t kMaxAnsweredIds = 4096;           // control_response ids remembered (oldest forgotten)
constexpr size_t kMaxStdinTags = 4096;             // `stdin-once` tags remembered (oldest forgotten)
constexpr size_t kMaxTagBytes = 256;               // a tag, decoded

// A frame: 4-byte big-endian payload length, then the payload (1..kMaxFrame bytes).
std::string encode_frame(std::string_view payload);

// Incremental decoding of a byte stream into frames.
class FrameReader {
 public:
  enum class Status { kNeedMore, kFrame, kBad };
  void feed(const char* data, size_t n) { buf_.append(data, n); }
  // kFrame: `payload` is valid until the next call. kBad: a zero or oversized length; the
  // stream cannot be resynchronised, the connection is to be closed.
  Status next(std::string_view& payload);
  size_t buffered() const { return buf_.size() - pos_; }
  // The declared length of the frame being received (0 when no header is complete yet).
  uint32_t pending_length() const;
  void clear();

 private:
  std::string buf_;
  size_t pos_ = 0;
};

// The first word of a payload and the rest after one space ("stdin <bytes>" keeps its bytes
// whole, newlines included).
struct Command {
  std::string_view word;
  std::string_view rest;
};
Command split_command(std::string_view payload);

// Strict decimal (no sign, no spaces, no leading '+', fits in 64 bits).
std::optional<uint64_t> parse_u64(std::string_view s);
// "A B" as two strict decimals.
bool parse_two_u64(std::string_view s, uint64_t& a, uint64_t& b);

// Values in key=value fields and ids: bytes <= 0x20, '%', '=' and >= 0x7f as %XX.
std::string pct_encode(std::string_view s);
std::optional<std::string> pct_decode(std::string_view s);
// The tag of `stdin-once <tag> <bytes>`: 1..kMaxTagBytes bytes once decoded, written as
// pct_encode writes it (no raw byte that pct_encode escapes, so it is one word and the
// `duplicate <tag>` reply repeats it as sent). nullopt otherwise.
std::optional<std::string> decode_tag(std::string_view encoded);

// "k=v k=v ..." (values percent-encoded) as pairs; nullopt if a field has no '='.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_fields(std::string_view s);

// A line ccmuxd writes to answer claude's control request:
//   {"type":"control_response","response":{"request_id":"X",...,"response":{"behavior":"allow",...}}}
// (keys in any order, any whitespace). `request_id` is the raw text between the quotes (not
// unescaped: ccmuxd writes every id the same way); `behavior` likewise, empty when absent.
struct ControlResponse {
  std::string_view request_id;
  std::string_view behavior;
};
// nullopt when `line` is not a JSON object whose "type" is "control_response" with a string
// "response"."request_id". One pass, no allocation; it descends the three object levels named
// above and skips every other value by counting brackets (no recursion, so no depth limit).
// Malformed JSON gives nullopt: the line is forwarded as it is and claude judges it.
std::optional<ControlResponse> scan_control_response(std::string_view line);

}  // namespace ccmux::shim
