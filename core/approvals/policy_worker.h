// The policy worker: the process that runs Lua policy scripts for ccmuxd (and for
// `ccmux policy test`). It is the calling executable itself, started again with
// kPolicyWorkerFlag, so a daemon and its worker are always the same version.
//
// Why a process: Lua code can escape an instruction budget inside C (the pattern matcher,
// fnmatch) and a bug in a C binding can corrupt memory. In a process of its own a script
// that hangs is killed by the caller's wall clock and one that crashes takes down only the
// worker; the daemon answers "ask" and starts a new worker with the scripts that loaded.
//
// Protocol: one JSON object per line. Worker -> caller first: {"ready":true,"pid":N}.
//   {"op":"load","id":N,"name":SPEC,"source":TEXT}   -> {"id":N,"error":""|"file:line: …"}
//        (a failed load keeps the script's previous version)
//   {"op":"decide","id":N,"name":SPEC,"request":{tool,input,session:{id,cwd,model},suggestions}}
//                                                    -> {"id":N,"decision","reason","updated_input","error"}
//   {"op":"drop","id":N,"name":SPEC}                  -> {"id":N,"error":""}
#pragma once

namespace ccmux {

inline constexpr const char* kPolicyWorkerFlag = "--ccmux-policy-worker";

// Call first in main(): when argv asks for a policy worker, runs it and returns its exit
// code; otherwise returns -1 and the program goes on.
int maybe_run_policy_worker(int argc, char** argv);

}  // namespace ccmux
