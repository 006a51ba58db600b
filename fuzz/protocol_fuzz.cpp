// Boundary: the command door. Each input line is one message from a local client (after
// its hello), handled by a ProtocolClient as the Unix socket's clients are. @SESSION@ in
// the input becomes a live session's id. Every message the daemon sends back must be one
// JSON object: a client must always be able to parse what it gets.
#include "fuzz_daemon.h"
#include "protocol/protocol_client.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace ccmux;

namespace {
void check_reply(const std::string& m) {
  static const bool verbose = std::getenv("CCMUX_FUZZ_VERBOSE") != nullptr;  // to see what a seed does
  if (verbose) std::fprintf(stderr, "<- %.200s\n", m.c_str());
  auto j = nlohmann::json::parse(m, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(stderr, "ccmuxd sent a client something that is not a JSON object: %.300s\n", m.c_str());
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* d = new fuzz::FuzzDaemon({});
  Core& core = d->begin_input();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  {
    ProtocolClient client(core, "fuzz", check_reply, [] { return true; }, /*trusted=*/true);
    client.handle(R"({"type":"hello","protocol":1})");
    for (auto line : fuzz::lines_of(in)) client.handle(d->substitute(line));
    d->end_input();  // replays, policy decisions and answers that come from the loop
  }
  d->pump();
  return 0;
}
