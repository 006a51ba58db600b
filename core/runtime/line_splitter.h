// Cuts a byte stream (claude's stdout or stderr, from a pipe or a holder's spool) into lines,
// newline not included. Lines have no size limit short of kMaxLine (claude's init and tool
// results can be megabytes); a longer one is handed over cut at that size (line.size() >
// kMaxLine says so) and its rest dropped up to its newline. Only new bytes are searched: a
// line arriving in many pieces costs one pass, not one per piece. Inline: it is on the event
// path, once per line of every claude.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ccmux {

class LineSplitter {
 public:
  static constexpr size_t kMaxLine = 256u << 20;

  void append(const char* data, size_t n) { buf_.append(data, n); }

  // Hands every complete line to emit(line, capacity) — `capacity` bytes are readable from
  // line.data() (>= line.size() + 64, for simdjson) — and with `final` the unterminated tail
  // too. emit returns false when the splitter's owner is gone: split() then touches nothing
  // and returns false.
  template <class Emit>
  bool split(bool final, Emit&& emit) {
    if (skipping_) {  // the rest of a cut line: dropped up to its newline, never held
      size_t nl = buf_.find('\n');
      if (nl == std::string::npos) {
        drop(buf_.size());
        skipping_ = !final;
        return true;
      }
      drop(nl + 1);
      skipping_ = false;
    }
    buf_.reserve(buf_.size() + 64);  // simdjson padding past any line end
    size_t start = 0;
    for (size_t from = std::min(scanned_, buf_.size());;) {
      size_t nl = buf_.find('\n', from);
      if (nl == std::string::npos) break;
      consumed_ = base_ + nl + 1;
      if (!emit(std::string_view(buf_.data() + start, nl - start), buf_.capacity() - start)) return false;
      start = from = nl + 1;
    }
    drop(start);
    scanned_ = buf_.size();
    if ((final && !buf_.empty()) || buf_.size() > kMaxLine) {  // unterminated tail, or a runaway line
      skipping_ = !final && buf_.size() > kMaxLine;
      buf_.reserve(buf_.size() + 64);
      consumed_ = base_ + buf_.size();
      if (!emit(std::string_view(buf_), buf_.capacity())) return false;
      drop(buf_.size());
    }
    if (buf_.capacity() > (16u << 20) && buf_.size() < (1u << 20)) buf_.shrink_to_fit();  // a big line is over
    return true;
  }

  // Stream offsets: bytes appended so far, and the end of what is handed over or dropped (inside
  // emit: just after the line being handed over).
  uint64_t appended() const { return base_ + buf_.size(); }
  uint64_t consumed() const { return consumed_; }

 private:
  void drop(size_t n) {
    buf_.erase(0, n);
    base_ += n;
    consumed_ = base_;
    scanned_ = n >= scanned_ ? 0 : scanned_ - n;
  }

  std::string buf_;
  uint64_t base_ = 0;      // stream offset of buf_[0]
  uint64_t consumed_ = 0;
  size_t scanned_ = 0;     // bytes of buf_ already searched for a newline
  bool skipping_ = false;  // dropping the rest of a line cut at kMaxLine
};

}  // namespace ccmux
