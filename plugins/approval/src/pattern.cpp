#include "pattern.h"

#include <filesystem>
#include <sstream>
#include <vector>

namespace ccmux::approval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Programs whose first word is a sub-command: learned as "git status", never as "git".
const std::set<std::string> kMultiCommand = {"git",   "npm",    "npx",     "yarn",   "pnpm",  "cargo", "go",
                                              "docker", "kubectl", "pip",    "pip3",  "make",  "cmake", "gh",
                                              "apt",   "apt-get", "brew",   "systemctl", "dotnet", "mvn", "gradle",
                                              "bundle", "rake",   "poetry", "uv",    "deno",  "bun",   "terraform"};

const std::set<std::string> kFileTools = {"Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "NotebookRead"};

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The path relative to cwd, or "" when it leaves cwd (absolute elsewhere, or `..`).
std::string inside(const std::string& path, const std::string& cwd) {
  if (cwd.empty() || path.empty()) return "";
  fs::path p = fs::path(path).is_absolute() ? fs::path(path) : fs::path(cwd) / path;
  fs::path rel = p.lexically_normal().lexically_relative(fs::path(cwd).lexically_normal());
  if (rel.empty()) return "";
  std::string r = rel.generic_string();
  if (r == ".." || r.rfind("../", 0) == 0) return "";
  return r;
}

std::optional<Pattern> file_pattern(const std::string& tool, const std::string& path, const std::string& cwd) {
  std::string rel = inside(path, cwd);
  if (rel.empty()) return std::nullopt;  // outside the project: ask every time
  fs::path p(rel);
  std::string folder = p.has_parent_path() ? p.parent_path().generic_string() : std::string(1, '.');
  // Dotfiles (.env, .npmrc, .git/config…) are never generalised to "any file like it".
  bool dot = rel[0] == '.' || rel.find("/.") != std::string::npos;  // a hidden file or folder anywhere
  if (dot) return Pattern{tool + ":" + rel, read_only_tools().count(tool) > 0};
  std::string key = tool;  // built by appends: GCC 12 warns falsely (-Wrestrict) on a + chain here
  key.append(":").append(folder).append("/*").append(p.extension().string());
  return Pattern{key, read_only_tools().count(tool) > 0};
}

}  // namespace

const std::set<std::string>& read_only_tools() {
  static const std::set<std::string> kReadOnly = {"Read", "Glob", "Grep", "LS", "NotebookRead", "WebSearch",
                                                   "TodoWrite", "BashOutput"};
  return kReadOnly;
}

bool has_shell_operators(const std::string& c) {
  return c.find_first_of(";&|<>`$()\n\r\\{}") != std::string::npos;
}

std::optional<Pattern> pattern_of(const std::string& tool, const json& input, const std::string& cwd) {
  if (!input.is_object()) return std::nullopt;
  if (kFileTools.count(tool)) {
    for (const char* k : {"file_path", "notebook_path"})
      if (input.contains(k) && input[k].is_string()) return file_pattern(tool, input[k], cwd);
    return std::nullopt;
  }
  if (tool == "Bash") {
    std::string cmd = input.value("command", "");
    if (cmd.empty() || has_shell_operators(cmd)) return std::nullopt;
    auto w = words(cmd);
    if (w.empty() || w[0].find('=') != std::string::npos) return std::nullopt;  // FOO=bar cmd
    if (kMultiCommand.count(w[0])) {
      // "git -C x push" has no clear sub-command: it is not learned as "git".
      if (w.size() < 2 || w[1].empty() || w[1][0] == '-' || w[1].find('/') != std::string::npos) return std::nullopt;
      return Pattern{"Bash:" + w[0] + " " + w[1], false};
    }
    return Pattern{"Bash:" + w[0], false};
  }
  if (tool == "Glob" || tool == "Grep" || tool == "LS") {
    std::string path = input.value("path", "");
    std::string rel = path.empty() ? "." : inside(path, cwd);
    if (rel.empty()) return std::nullopt;
    return Pattern{tool + ":" + rel, true};
  }
  if (tool == "WebFetch") {
    std::string url = input.value("url", "");
    auto s = url.find("://");
    if (s == std::string::npos) return std::nullopt;
    std::string host = url.substr(s + 3, url.find_first_of("/:?#", s + 3) - (s + 3));
    if (host.empty()) return std::nullopt;
    return Pattern{"WebFetch:" + host, false};
  }
  return Pattern{tool, read_only_tools().count(tool) > 0};
}

}  // namespace ccmux::approval
