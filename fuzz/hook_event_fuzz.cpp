// Boundary: Claude Code's hook JSON, as `ccmux hook` forwards it (method hook.event over the
// local socket). The input is spliced in as params.input verbatim, so it may also close the
// object and add params of its own (wait_s, ...), as a broken or hostile hook client could.
#include "fuzz_daemon.h"
#include "protocol/protocol_client.h"

#include <cstdint>

using namespace ccmux;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* d = new fuzz::FuzzDaemon({});
  Core& core = d->begin_input();
  std::string hook(reinterpret_cast<const char*>(data), size);
  {
    ProtocolClient client(core, "hook", [](const std::string&) {}, [] { return true; }, /*trusted=*/true);
    client.handle(R"({"type":"hello","protocol":1})");
    client.handle(R"({"type":"request","id":1,"method":"hook.event","params":{"input":)" + hook + "}}");
    d->end_input();
  }
  d->pump();
  return 0;
}
