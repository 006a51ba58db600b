// `ccmux policy test`, run by ccmuxd: the CLI does not link Lua, so it execs
// `ccmuxd --ccmux-policy-test FILE TOOL INPUT CWD` and the dry run happens here, in the same
// policy worker ccmuxd uses for real decisions. Prints the decision; exit 1 on a load error,
// a bad --input or a script error.
#pragma once

namespace ccmux {

inline constexpr const char* kPolicyTestFlag = "--ccmux-policy-test";

// Call first in main(): when argv asks for a policy test, runs it and returns its exit code;
// otherwise returns -1.
int maybe_run_policy_test(int argc, char** argv);

}  // namespace ccmux
