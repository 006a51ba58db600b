// `ccmux doctor`: the claude CLI ccmuxd would start, its version, and the Node it needs.
#include "doctor_checks.h"
#include "run_program.h"

#include <filesystem>
#include <fstream>

namespace ccmux::cli {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The nearest package.json above `file` that declares engines.node (an npm-installed claude:
// .../node_modules/@anthropic-ai/claude-code/cli.js beside its package.json).
std::string find_engines(const fs::path& file, std::string& package_json) {
  fs::path dir = file.parent_path();
  for (int up = 0; up < 6 && !dir.empty(); ++up, dir = dir.parent_path()) {
    fs::path p = dir / "package.json";
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      std::ifstream in(p);
      json j = json::parse(in, nullptr, false);
      if (j.is_object() && j.contains("engines") && j["engines"].is_object() && j["engines"].contains("node") &&
          j["engines"]["node"].is_string()) {
        package_json = p.string();
        return j["engines"]["node"];
      }
    }
    if (dir == dir.root_path()) break;
  }
  return "";
}

std::vector<int> numbers(const std::string& s) {
  std::vector<int> v;
  size_t i = 0;
  while (i < s.size()) {
    if (!isdigit(static_cast<unsigned char>(s[i]))) break;
    size_t end = i;
    while (end < s.size() && isdigit(static_cast<unsigned char>(s[end]))) ++end;
    v.push_back(std::stoi(s.substr(i, std::min<size_t>(end - i, 6))));
    if (end >= s.size() || s[end] != '.') break;
    i = end + 1;
  }
  return v;
}

Finding node_finding(const std::string& claude, const std::string& installer) {
  Finding f{"node", Level::ok, "", installer + "   (installs the native claude, which needs no Node)"};
  std::error_code ec;
  fs::path real = fs::canonical(claude, ec);
  if (ec) real = claude;
  std::ifstream in(real, std::ios::binary);
  std::string head(256, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.rfind("\x7f" "ELF", 0) == 0) {
    f.message = "not needed: " + real.string() + " is a native executable";
    f.fix.clear();
    return f;
  }
  std::string shebang = head.rfind("#!", 0) == 0 ? first_line(head) : "";
  if (shebang.find("node") == std::string::npos) {
    f.level = Level::note;
    f.fix.clear();
    f.message = "not checked: " + real.string() + " is neither a native executable nor a Node script" +
                (shebang.empty() ? "" : " (" + shebang + ")");
    return f;
  }
  // The node the script runs: "#!/usr/bin/env node" takes PATH's, "#!/opt/node/bin/node" that one.
  std::string interp = shebang.substr(2);
  interp.erase(0, interp.find_first_not_of(' '));
  std::string node = interp.rfind("/usr/bin/env", 0) == 0 ? find_on_path("node") : interp.substr(0, interp.find(' '));
  std::string package_json;
  std::string engines = find_engines(real, package_json);
  std::string wants = engines.empty() ? "" : " (" + package_json + ": engines.node \"" + engines + "\")";
  if (node.empty()) {
    f.level = Level::problem;
    f.message = real.string() + " is a Node script and there is no node on PATH" + wants;
    return f;
  }
  ProgramRun v = run_program({node, "--version"}, 10);
  std::string version = first_line(v.output);
  if (!v.started || v.exit_code != 0) {
    f.level = Level::problem;
    f.message = node + " --version fails: " + version + wants;
    return f;
  }
  if (engines.empty()) {
    f.level = Level::note;
    f.fix.clear();
    f.message = "node " + version + " (" + node + "); claude at " + real.string() + " declares no engines.node";
    return f;
  }
  std::optional<bool> fits = node_satisfies(version, engines);
  if (!fits || *fits) f.fix.clear();
  if (!fits) {
    f.level = Level::note;
    f.message = "node " + version + "; claude's engines.node \"" + engines + "\" not understood, not compared";
  } else if (*fits) {
    f.message = "node " + version + " (" + node + ") satisfies claude's engines.node \"" + engines + "\"";
  } else {
    f.level = Level::problem;
    f.message = "node " + version + " (" + node + ") is older than claude needs" + wants;
  }
  return f;
}

}  // namespace

std::optional<bool> node_satisfies(const std::string& node_version, const std::string& engines) {
  std::string e = engines;
  e.erase(0, e.find_first_not_of(' '));
  if (e.rfind(">=", 0) != 0 || e.find("||") != std::string::npos) return std::nullopt;
  e.erase(0, 2);
  e.erase(0, e.find_first_not_of(' '));
  std::string v = node_version.rfind('v', 0) == 0 ? node_version.substr(1) : node_version;
  std::vector<int> want = numbers(e), have = numbers(v);
  if (want.empty() || have.empty()) return std::nullopt;
  want.resize(3, 0);
  have.resize(3, 0);
  return have >= want;
}

std::vector<Finding> check_claude(const Config& cfg, const std::string& pinned, const std::string& installer) {
  Finding c{"claude", Level::ok, "", ""};
  std::string claude;
  try {
    claude = resolve_claude_path(cfg);
  } catch (const ConfigError& e) {
    c.level = Level::problem;
    c.message = e.what();
    if (!cfg.claude_path.empty()) {
      const char* env = std::getenv("CCMUX_CLAUDE_PATH");
      bool from_env = env && cfg.claude_path == env;
      c.message = "claude.path " + cfg.claude_path + " (from " +
                  (from_env ? std::string("$CCMUX_CLAUDE_PATH") : cfg.source.empty() ? "the config" : cfg.source) +
                  ") is not an executable file";
      c.fix = installer + ", then point " + (from_env ? "CCMUX_CLAUDE_PATH" : "claude.path") +
              " at the claude it installs (or remove it to use PATH)";
    } else {
      c.message = "no claude on PATH (nor claude.path in the config, nor $CCMUX_CLAUDE_PATH)";
      c.fix = installer + "   (installs claude " + pinned + "; no Node needed)";
    }
    return {c, {"node", Level::note, "not checked: no claude", ""}};
  }
  ProgramRun v = run_program({claude, "--version"}, 30);
  std::string out = first_line(v.output);
  std::string version = out.substr(0, out.find(' '));
  if (!v.started || v.timed_out || v.exit_code != 0) {
    c.level = Level::problem;
    c.message = claude + " --version " + (v.timed_out ? "did not answer within 30 s" : "failed (exit " + std::to_string(v.exit_code) + ")") +
                (out.empty() ? "" : ": " + out);
    c.fix = installer + "   (installs claude " + pinned + ")";
  } else if (version == pinned) {
    c.message = version + " at " + claude + " (the version ccmux is tested with)";
  } else {
    c.level = Level::warning;
    c.message = (version.empty() ? "an unknown version" : version) + " at " + claude + "; ccmux is tested with " + pinned;
    c.fix = installer + "   (installs claude " + pinned + ")";
  }
  return {c, node_finding(claude, installer)};
}

}  // namespace ccmux::cli
