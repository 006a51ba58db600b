// Events over claude.max_event_bytes: what is stored and sent instead of the payload, and
// where the whole payload goes. Every stored event then fits every client's limits, so a
// replay never fails; what claude said is still read whole in memory for routing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ccmux {

class EventCap {
 public:
  // `dir`: where whole payloads are kept (<state_dir>/large-events); limit 0: no cap.
  EventCap(size_t limit, std::string dir);
  size_t limit() const { return limit_; }
  bool over(std::string_view payload) const { return limit_ > 0 && payload.size() > limit_; }

  // The payload to store for event `seq` of `session`: itself when it fits, else the
  // shrunk form (see shrink), the whole bytes written to file_for(session, seq).
  std::string cap(const std::string& session, uint64_t seq, std::string payload) const;
  std::string file_for(const std::string& session, uint64_t seq) const;

  // The same JSON with every string longer than the cut length cut (at a UTF-8 boundary)
  // and a top-level "ccmux_truncated" member {bytes, sha256, limit, strings_cut_at, file?,
  // file_error?}; when even that is over `limit`, {"ccmux_truncated":{…}, "head": first
  // bytes as text}. `file` is "" when no file was written (file_error says why, if any).
  static std::string shrink(std::string_view payload, size_t limit, const std::string& file,
                            const std::string& file_error);

 private:
  size_t limit_;
  std::string dir_;
};

}  // namespace ccmux
