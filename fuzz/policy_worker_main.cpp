// Daemon-backed targets: the policy engine starts its worker by re-running this executable
// with the worker flag (policy_worker.h). libFuzzer calls this before it parses argv, so the
// worker runs here instead of a second fuzzer.
#include "approvals/policy_worker.h"

#include <cstdlib>

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (int rc = ccmux::maybe_run_policy_worker(*argc, *argv); rc >= 0) std::exit(rc);
  return 0;
}
