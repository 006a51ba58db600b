// Boundary: what another machine of the fleet sends (plugins/fleet/src/wire.h): the version
// envelope of every message, the event lines of a remote subscription rewritten for this
// machine's client, the "MACHINE/" prefixes added to answers and stripped from requests, and
// the lenient typed reads of heartbeats. Nothing may crash or read out of bounds; a rewritten
// event line is still one JSON object on one line with the new session and subscription.
#include "wire.h"

#include <ccmux/json_bounds.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace ccmux::fleet;

namespace {
void check(bool ok) {
  if (!ok) abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Event lines as a requester reads them from a batch.
  for (size_t start = 0; start <= bytes.size();) {
    size_t nl = bytes.find('\n', start);
    std::string_view line = bytes.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    std::string out;
    uint64_t seq = 0;
    (void)event_seq(line);
    if (rewrite_event(line, 1000000000000001ULL, "box/s-1", out, seq)) {
      check(seq > 0);
      check(out.find('\n') == std::string::npos || line.find('\n') != std::string_view::npos);
      check(out.rfind(R"({"type":"event","subscription":1000000000000001,"session":"box/s-1",)", 0) == 0);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  // Messages as the owner and the requester parse them.
  json msg = ccmux::sdk::parse_json_bounded(bytes);
  if (msg.is_discarded()) return 0;
  (void)version_problem(msg, "a", "b");
  (void)get_int(msg, "live");
  (void)get_uint(msg, "approvals_rev");
  (void)get_str(msg, "machine");
  json params = params_for_owner(msg);
  check(params.is_object() && !params.contains("host"));
  json prefixed = msg;
  add_machine(prefixed, "box");
  (void)prefixed.dump(-1, ' ', false, json::error_handler_t::replace);
  return 0;
}
