// `ccmux doctor` output: one line per finding, its fix indented below; or JSON for programs.
#include "doctor.h"

namespace ccmux::cli {

const char* level_name(Level l) {
  switch (l) {
    case Level::ok: return "ok";
    case Level::note: return "note";
    case Level::warning: return "warning";
    case Level::problem: return "problem";
  }
  return "?";
}

namespace {
size_t count(const std::vector<Finding>& f, Level l) {
  size_t n = 0;
  for (auto& x : f) n += x.level == l;
  return n;
}
std::string plural(size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }
}  // namespace

std::string render_text(const std::vector<Finding>& findings) {
  std::string out;
  for (auto& f : findings) {
    std::string mark = f.level == Level::problem ? "PROBLEM" : level_name(f.level);
    std::string line = "  " + mark + std::string(9 - mark.size(), ' ') + f.check;
    line += std::string(line.size() < 20 ? 20 - line.size() : 1, ' ') + f.message + "\n";
    if (!f.fix.empty()) line += std::string(20, ' ') + "fix: " + f.fix + "\n";
    out += line;
  }
  size_t problems = count(findings, Level::problem), warnings = count(findings, Level::warning);
  out += "\n";
  if (problems == 0 && warnings == 0) out += "No problems found.\n";
  else
    out += plural(problems, "problem") + ", " + plural(warnings, "warning") +
           (problems ? ": ccmux does not work as it should until the problems are fixed.\n"
                     : ": ccmux works; the warnings are worth a look.\n");
  return out;
}

nlohmann::json render_json(const std::vector<Finding>& findings) {
  nlohmann::json checks = nlohmann::json::array();
  for (auto& f : findings) {
    nlohmann::json j = {{"check", f.check}, {"level", level_name(f.level)}, {"message", f.message}};
    if (!f.fix.empty()) j["fix"] = f.fix;
    checks.push_back(j);
  }
  return {{"ok", doctor_exit_code(findings) == 0},
          {"problems", count(findings, Level::problem)},
          {"warnings", count(findings, Level::warning)},
          {"checks", checks}};
}

}  // namespace ccmux::cli
