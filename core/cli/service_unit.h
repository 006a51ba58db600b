// The systemd units `ccmux service install` uses or writes (packaging/ccmuxd*.service.in).
#pragma once

#include <string>

namespace ccmux::cli {

enum class Scope { user, system };

// First line of every unit `ccmux service install` writes: `uninstall` removes only those.
extern const char* const kWrittenUnitMarker;

// The packaged unit for `scope`, made for ccmuxd at `ccmuxd_path` (its folder also goes on the
// user unit's PATH); `doc_dir` empty drops the Documentation= line. Starts with the marker.
std::string render_unit(Scope scope, const std::string& ccmuxd_path, const std::string& doc_dir);
bool written_by_ccmux(const std::string& unit_text);

// True when systemd loads `scope` units from `dir` by name (its search path without the
// per-user and runtime folders): a unit installed there is enabled by name.
bool on_systemd_search_path(Scope scope, const std::string& dir);

}  // namespace ccmux::cli
