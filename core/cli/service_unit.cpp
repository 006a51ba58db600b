#include "service_unit.h"

#include <filesystem>
#include <sstream>

namespace ccmux::cli {

// Both templates, compiled in (CMake writes them from packaging/*.service.in).
extern const char* const kSystemUnitTemplate;
extern const char* const kUserUnitTemplate;

const char* const kWrittenUnitMarker = "# Written by `ccmux service install`; `ccmux service uninstall` removes it.";

namespace {
void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}
// The user unit's PATH (packaging/install-units.cmake makes the same): claude from
// ccmux-install-claude (~/.local/bin as a user, /usr/local/bin as root), then ccmux's folder.
std::string user_unit_path(const std::string& bin_dir) {
  std::string path;
  for (const std::string& dir : {std::string("%h/.local/bin"), std::string("/usr/local/bin"), bin_dir, std::string("/usr/bin"),
                                std::string("/bin")})
    if ((":" + path + ":").find(":" + dir + ":") == std::string::npos) path += (path.empty() ? "" : ":") + dir;
  return path;
}
}  // namespace

std::string render_unit(Scope scope, const std::string& ccmuxd_path, const std::string& doc_dir) {
  std::istringstream in(scope == Scope::user ? kUserUnitTemplate : kSystemUnitTemplate);
  std::string out = std::string(kWrittenUnitMarker) + "\n", line;
  while (std::getline(in, line)) {
    if (doc_dir.empty() && line.find("@CCMUX_DOC_DIR@") != std::string::npos) continue;
    replace_all(line, "@CCMUXD@", ccmuxd_path);
    replace_all(line, "@CCMUX_USER_PATH@", user_unit_path(std::filesystem::path(ccmuxd_path).parent_path().string()));
    replace_all(line, "@CCMUX_DOC_DIR@", doc_dir);
    out += line + "\n";
  }
  return out;
}

bool written_by_ccmux(const std::string& unit_text) { return unit_text.rfind(kWrittenUnitMarker, 0) == 0; }

bool on_systemd_search_path(Scope scope, const std::string& dir) {
  std::error_code ec;
  auto canon = [&](const std::string& p) { return std::filesystem::weakly_canonical(p, ec).string(); };
  const std::string kind = scope == Scope::user ? "user" : "system";
  std::string d = canon(dir);
  for (const char* base : {"/etc/systemd/", "/usr/local/lib/systemd/", "/usr/lib/systemd/", "/lib/systemd/"})
    if (canon(std::string(base) + kind) == d) return true;
  return false;
}

}  // namespace ccmux::cli
