// The unit tests' main: the binary also serves as its own policy worker (PolicyEngine runs
// /proc/self/exe with the worker flag, as ccmuxd and ccmux do).
#include "approvals/policy_worker.h"

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  if (int rc = ccmux::maybe_run_policy_worker(argc, argv); rc >= 0) return rc;
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
