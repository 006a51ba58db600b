// core/ is split into folders that call one way (core/README.md). This reads every source
// file's `#include "folder/..."` lines and fails on one that reaches a folder its own may
// not call, naming file:line, so the layout cannot rot back into one directory of peers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kCoreFolders = {"runtime", "storage", "auth",   "approvals", "sessions", "plugins",
                                            "protocol", "daemon", "config", "base",      "shim", "worktrees"};

// Who may include whom (besides itself and base/, which everyone may use by bare name).
const std::map<std::string, std::set<std::string>> kMayInclude = {
    {"base", {}},
    {"runtime", {}},
    {"config", {}},
    // The holder (ccmux-shim) outlives ccmuxd and stays tiny: base/ only.
    {"shim", {}},
    // Git worktrees: the git CLI and base/ (the loop only through a function it is given).
    {"worktrees", {}},
    {"storage", {"runtime"}},
    {"auth", {"storage", "runtime"}},
    {"approvals", {"runtime", "storage"}},
    // sessions/ speaks the holder protocol (shim/holder_protocol.h) to ccmux-shim.
    {"sessions", {"approvals", "runtime", "storage", "shim"}},
    // The front doors reach everything through the Core, and each other.
    {"protocol", {"daemon", "plugins", "sessions", "approvals", "auth", "storage", "runtime", "config", "worktrees"}},
    {"plugins", {"daemon", "protocol", "sessions", "approvals", "auth", "storage", "runtime", "config"}},
    {"daemon", {"protocol", "plugins", "sessions", "approvals", "auth", "storage", "runtime", "config", "worktrees"}},
    // The command-line client is not the daemon: it reads the config, nothing else of core/.
    {"cli", {"config", "commands"}},
};

struct Include {
  std::string file;
  int line;
  std::string folder;  // the first path component of the quoted include
};

std::vector<Include> folder_includes(const fs::path& dir) {
  static const std::regex kInclude(R"re(^\s*#\s*include\s+"([A-Za-z0-9_]+)/)re");
  std::vector<Include> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    auto ext = e.path().extension();
    if (!e.is_regular_file() || (ext != ".h" && ext != ".hpp" && ext != ".cpp")) continue;
    std::ifstream in(e.path());
    std::string text;
    for (int n = 1; std::getline(in, text); ++n) {
      std::smatch m;
      if (std::regex_search(text, m, kInclude)) out.push_back({e.path().string(), n, m[1]});
    }
  }
  return out;
}

std::string violations_in(const fs::path& dir, const std::string& folder, const std::set<std::string>& allowed) {
  std::string bad;
  for (auto& inc : folder_includes(dir)) {
    if (inc.folder == folder || allowed.count(inc.folder)) continue;
    if (!kCoreFolders.count(inc.folder) && inc.folder != "cli" && inc.folder != "commands") continue;  // not ours
    bad += "  " + inc.file + ":" + std::to_string(inc.line) + " includes " + inc.folder + "/\n";
  }
  return bad;
}

const fs::path kSource = CCMUX_SOURCE_DIR;

}  // namespace

TEST(Layering, EveryCoreFolderIsKnownAndHasAReadme) {
  for (auto& e : fs::directory_iterator(kSource / "core")) {
    if (!e.is_directory()) continue;
    std::string name = e.path().filename().string();
    EXPECT_TRUE(kMayInclude.count(name)) << "core/" << name << " is not in the layering table of this test";
    EXPECT_TRUE(fs::exists(e.path() / "README.md")) << "core/" << name << " has no README saying what it owns";
  }
}

TEST(Layering, TheScannerSeesIncludes) {
  // Guards the test itself: if the pattern stopped matching, every check below would pass.
  bool supervisor_uses_store = false;
  for (auto& inc : folder_includes(kSource / "core/sessions"))
    if (inc.file.find("supervisor.h") != std::string::npos && inc.folder == "storage") supervisor_uses_store = true;
  EXPECT_TRUE(supervisor_uses_store);
  EXPECT_NE(violations_in(kSource / "core/sessions", "sessions", {}), "");
}

TEST(Layering, CoreFoldersIncludeOnlyWhatTheyMayCall) {
  for (auto& entry : kMayInclude) {  // not a structured binding: clang 14 cannot capture one
    auto& folder = entry.first;
    auto& allowed = entry.second;
    fs::path dir = kSource / "core" / folder;
    if (!fs::exists(dir)) continue;
    std::string bad = violations_in(dir, folder, allowed);
    EXPECT_EQ(bad, "") << "core/" << folder << " may include only itself, base and {"
                       << [&] {
                            std::string s;
                            for (auto& a : allowed) s += (s.empty() ? "" : ", ") + a;
                            return s;
                          }()
                       << "}, but:\n"
                       << bad;
  }
}

TEST(Layering, TheClientLibraryAndPluginsIncludeNoCoreFolder) {
  for (const char* top : {"client", "plugins"}) {
    std::string bad = violations_in(kSource / top, "", {});
    EXPECT_EQ(bad, "") << top << "/ must not include the daemon's parts:\n" << bad;
  }
}
