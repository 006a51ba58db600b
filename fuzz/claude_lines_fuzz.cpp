// Boundary: claude's stdout. Each input is what a claude process could write (lines),
// handed to the supervisor of a live session exactly as ChildProcess hands its lines over.
#include "fuzz_daemon.h"

#include <cstdint>

using namespace ccmux;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* d = new fuzz::FuzzDaemon({});  // never destroyed: crashes skip destructors anyway
  Core& core = d->begin_input();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (auto line : fuzz::lines_of(in)) core.supervisor->handle_line_for_test(d->session(), line);
  d->end_input();
  return 0;
}
