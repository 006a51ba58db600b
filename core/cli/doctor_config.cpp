// `ccmux doctor`: the config file, read by the loader ccmuxd uses (errors name file:line:col),
// then its policies and plugin keys by `ccmuxd --check-config` (which loads them as ccmuxd does).
#include "doctor_checks.h"
#include "paths.h"
#include "run_program.h"

#include <filesystem>
#include <unistd.h>

namespace ccmux::cli {

ConfigCheck check_config(const std::string& path, bool explicit_path, const std::string& bin_dir) {
  ConfigCheck r;
  r.path = path.empty() ? default_config_path() : path;
  Finding f{"config", Level::ok, "", ""};
  std::error_code ec;
  if (!explicit_path && !std::filesystem::exists(r.path, ec)) {
    r.config = parse_config("", "");  // built-in defaults and CCMUX_* overrides, as ccmuxd has them
    f.message = "no " + r.path + ": ccmuxd runs with built-in defaults";
    r.findings.push_back(f);
    return r;
  }
  try {
    r.config = load_config(r.path, true);
  } catch (const ConfigError& e) {
    r.config = parse_config("", "");  // the other checks go on with what ccmuxd would have without it
    f.level = Level::problem;
    f.message = e.what();
    f.fix = "correct " + r.path + " there, then check it with: ccmuxd --check-config " + r.path;
    r.findings.push_back(f);
    return r;
  }
  std::string ccmuxd = bin_dir + "/ccmuxd";
  if (access(ccmuxd.c_str(), X_OK) != 0) ccmuxd = find_on_path("ccmuxd");
  if (ccmuxd.empty()) {
    f.message = r.path + " is valid (its policies and plugin keys not checked: no ccmuxd beside ccmux or on PATH)";
    r.findings.push_back(f);
    return r;
  }
  ProgramRun check = run_program({ccmuxd, "--check-config", r.path}, 60);
  if (check.started && !check.timed_out && check.exit_code == 0) {
    f.message = r.path + " is valid, with its policies and plugin keys";
  } else {
    f.level = Level::problem;
    f.message = check.timed_out ? "ccmuxd --check-config " + r.path + " did not finish within 60 s"
                                : first_line(check.output.empty() ? "ccmuxd --check-config failed" : check.output);
    f.fix = "correct " + r.path + ", then check it with: ccmuxd --check-config " + r.path;
  }
  r.findings.push_back(f);
  return r;
}

}  // namespace ccmux::cli
