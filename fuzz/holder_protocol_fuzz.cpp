// Boundary: the holder protocol (core/shim/holder_protocol.h), the bytes between ccmuxd and a
// ccmux-shim in both directions: frames read incrementally, their command words, k=v fields
// with percent-encoded values, stdin-once tags, and the scan of a control_response line that
// the holder runs on every line ccmuxd writes to claude. Nothing may crash, read out of bounds
// or allocate past the bytes given; the checks below are the functions' promises.
#include "shim/holder_protocol.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace ccmux::shim;

namespace {
void check(bool ok) {
  if (!ok) abort();
}

void words(std::string_view payload) {
  Command c = split_command(payload);
  check(c.word.size() <= payload.size() && c.rest.size() <= payload.size());
  if (auto fields = parse_fields(c.rest))
    for (auto& [k, v] : *fields) check(pct_decode(pct_encode(v)) == v);
  uint64_t a = 0, b = 0;
  (void)parse_two_u64(c.rest, a, b);
  (void)parse_u64(c.rest);
  if (auto tag = decode_tag(c.word)) check(!tag->empty() && tag->size() <= kMaxTagBytes);
  for (size_t start = 0; start <= payload.size();) {  // each line, as a stdin frame's lines are scanned
    size_t nl = payload.find('\n', start);
    std::string_view line = payload.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (auto cr = scan_control_response(line)) {
      check(cr->request_id.data() >= line.data() && cr->request_id.data() + cr->request_id.size() <= line.data() + line.size());
      check(cr->behavior.empty() || (cr->behavior.data() >= line.data() &&
                                     cr->behavior.data() + cr->behavior.size() <= line.data() + line.size()));
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  words(in);  // the input as one payload
  // The input as a byte stream in small pieces (a socket delivers frames in any cut).
  FrameReader r;
  size_t fed = 0, piece = size ? 1 + data[0] % 13 : 1;
  for (size_t off = 0; off < size; off += piece) {
    size_t n = std::min(piece, size - off);
    r.feed(in.data() + off, n);
    fed += n;
    for (;;) {
      std::string_view payload;
      auto st = r.next(payload);
      if (st == FrameReader::Status::kBad) return 0;  // the connection would be closed
      if (st == FrameReader::Status::kNeedMore) break;
      check(!payload.empty() && payload.size() <= kMaxFrame && payload.size() <= fed);
      words(payload);
      check(std::string_view(encode_frame(payload)).substr(4) == payload);
    }
  }
  return 0;
}
