#include "pattern.h"

#include "bash_pattern.h"
#include "paths.h"

#include <filesystem>

namespace ccmux::approval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::set<std::string> kFileTools = {"Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "NotebookRead"};

// A string field of a tool input; "" when absent, nullopt when it has another type.
std::optional<std::string> field(const json& input, const char* k) {
  if (!input.contains(k)) return std::string();
  if (!input[k].is_string()) return std::nullopt;
  return input[k].get<std::string>();
}

// The path relative to cwd, or "" when it leads outside it (resolved: symlinks, "..", "~").
std::string inside(const std::string& path, const std::string& cwd) {
  if (cwd.empty() || path.empty()) return "";
  return relative_inside(path, cwd).value_or("");
}

std::optional<Pattern> file_pattern(const std::string& tool, const std::string& path, const std::string& cwd) {
  std::string rel = inside(path, cwd);
  if (rel.empty() || rel == ".") return std::nullopt;  // outside the project: ask every time
  fs::path p(rel);
  std::string folder = p.has_parent_path() ? p.parent_path().generic_string() : std::string(1, '.');
  // Dotfiles (.env, .npmrc, .git/config…) are never generalised to "any file like it".
  bool dot = rel[0] == '.' || rel.find("/.") != std::string::npos;  // a hidden file or folder anywhere
  if (dot) return Pattern{tool + ":" + rel, read_only_tools().count(tool) > 0};
  std::string key = tool;  // built by appends: GCC 12 warns falsely (-Wrestrict) on a + chain here
  key.append(":").append(folder).append("/*").append(p.extension().string());
  return Pattern{key, read_only_tools().count(tool) > 0};
}

// Glob's pattern may itself leave the folder ("/etc/*", "../x/**"): its fixed part (up to the
// last "/" before the first wildcard) must lead inside too.
bool glob_pattern_inside(const std::string& pattern, const std::string& base, const std::string& cwd) {
  std::string fixed = pattern.substr(0, pattern.find_first_of("*?[{"));
  std::string dir = fixed;  // no wildcard at all: the pattern is a path
  if (fixed.size() != pattern.size()) {
    auto slash = fixed.rfind('/');
    dir = slash == std::string::npos ? "" : fixed.substr(0, slash == 0 ? 1 : slash);
  }
  if (dir.empty()) return true;
  if (dir[0] != '/' && dir[0] != '~') dir = base + "/" + dir;
  return relative_inside(dir, cwd).has_value();
}

}  // namespace

const std::set<std::string>& read_only_tools() {
  static const std::set<std::string> kReadOnly = {"Read", "Glob", "Grep", "LS", "NotebookRead", "WebSearch",
                                                   "TodoWrite", "BashOutput"};
  return kReadOnly;
}

bool key_allowed(const std::string& key) {
  if (key.rfind("Bash:", 0) != 0) return true;
  return bash_pattern(key.substr(5), "/").has_value();  // from "/", every path is inside
}

std::optional<Pattern> pattern_of(const std::string& tool, const json& input, const std::string& cwd) {
  if (!input.is_object()) return std::nullopt;
  if (kFileTools.count(tool)) {
    for (const char* k : {"file_path", "notebook_path"})
      if (input.contains(k)) return input[k].is_string() ? file_pattern(tool, input[k], cwd) : std::nullopt;
    return std::nullopt;
  }
  if (tool == "Bash") {
    auto cmd = field(input, "command");
    if (!cmd) return std::nullopt;
    auto key = bash_pattern(*cmd, cwd);
    if (!key) return std::nullopt;
    return Pattern{*key, false};
  }
  if (tool == "Glob" || tool == "Grep" || tool == "LS") {
    auto path = field(input, "path");
    if (!path) return std::nullopt;
    std::string rel = path->empty() ? inside(".", cwd) : inside(*path, cwd);
    if (rel.empty()) return std::nullopt;
    if (tool == "Glob") {
      auto pattern = field(input, "pattern");
      if (!pattern || !glob_pattern_inside(*pattern, path->empty() ? cwd : *path, cwd)) return std::nullopt;
    }
    return Pattern{tool + ":" + rel, true};
  }
  if (tool == "WebFetch") {
    std::string url = field(input, "url").value_or("");
    auto s = url.find("://");
    if (s == std::string::npos) return std::nullopt;
    std::string host = url.substr(s + 3, url.find_first_of("/:?#", s + 3) - (s + 3));
    if (host.empty()) return std::nullopt;
    return Pattern{"WebFetch:" + host, false};
  }
  return Pattern{tool, read_only_tools().count(tool) > 0};
}

}  // namespace ccmux::approval
