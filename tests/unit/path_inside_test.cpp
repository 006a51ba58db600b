// ccmux::path_inside (core/base/util.cpp), behind the Lua helper ccmux.path_inside that the
// default policy uses to allow reads and deny writes: it decides by where a path really leads.
#include "harness.h"
#include "util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using ccmux::path_inside;
using ccmux::test::TempDir;
using ccmux::test::write_file;
namespace fs = std::filesystem;

namespace {
struct Tree {
  TempDir tmp;
  std::string root = fs::canonical(tmp.path).string();
  std::string proj = root + "/proj", out = root + "/out";
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  Tree() {
    fs::create_directories(proj + "/src/deep");
    fs::create_directories(out);
    write_file(out + "/secret.txt", "outside\n");
    fs::create_directory_symlink(out, proj + "/link");
    fs::create_symlink(out + "/new.txt", proj + "/dangling");            // target does not exist yet
    fs::create_symlink("../out/chain", proj + "/chain");                 // a dangling relative one
    fs::create_directory_symlink(proj + "/src/deep", proj + "/inner");  // two levels down
    fs::create_symlink("loop2", proj + "/loop1");
    fs::create_symlink("loop1", proj + "/loop2");
    setenv("HOME", (root + "/h").c_str(), 1);
  }
  ~Tree() { setenv("HOME", old_home.c_str(), 1); }
};
}  // namespace

TEST(PathInside, InsideAndPlainlyOutside) {
  Tree t;
  EXPECT_TRUE(path_inside(t.proj + "/src/a.cpp", t.proj));
  EXPECT_TRUE(path_inside(t.proj + "/not/yet/there.txt", t.proj));
  EXPECT_TRUE(path_inside(t.proj, t.proj));
  EXPECT_FALSE(path_inside(t.out + "/secret.txt", t.proj));
  EXPECT_FALSE(path_inside(t.proj + "/../out/secret.txt", t.proj));
  EXPECT_FALSE(path_inside(t.root + "/proj-other/x", t.proj));  // a prefix of the name is not inside
}

TEST(PathInside, SymlinksAreFollowedEvenWhenTheirTargetDoesNotExist) {
  Tree t;
  EXPECT_FALSE(path_inside(t.proj + "/link/secret.txt", t.proj));
  EXPECT_FALSE(path_inside(t.proj + "/link/new/file.txt", t.proj));
  EXPECT_FALSE(path_inside(t.proj + "/dangling", t.proj));  // a Write here creates out/new.txt
  EXPECT_FALSE(path_inside(t.proj + "/chain", t.proj));
  EXPECT_FALSE(path_inside(t.proj + "/loop1", t.proj));  // cannot be resolved: not inside
  EXPECT_TRUE(path_inside(t.proj + "/inner/x.h", t.proj));
}

TEST(PathInside, DotDotIsCheckedTheKernelsWayAndTheLexicalWay) {
  Tree t;
  // inner/../.. is proj for the kernel, root for a lexical normaliser: outside for one of them.
  EXPECT_FALSE(path_inside(t.proj + "/inner/../../x", t.proj));
  EXPECT_TRUE(path_inside(t.proj + "/src/../src/a.cpp", t.proj));
}

TEST(PathInside, TildeIsHomeAndTildeUserIsNotTakenAsText) {
  Tree t;
  EXPECT_TRUE(path_inside("~/x", t.root));
  EXPECT_FALSE(path_inside("~/x", t.proj));
  // "~root/x" is root's home, not "$HOME" + "root/x" (which would be inside t.root).
  EXPECT_FALSE(path_inside("~root/x", t.root));
}

// scripts/default.lua through the real CLI (`ccmux policy test`, the builtin copy of the script):
// its path checks lean on path_inside, and Glob's pattern can name a folder by itself.
namespace {
std::string default_policy(const std::string& tool, const nlohmann::json& input, const std::string& cwd) {
  std::string out;
  ccmux::test::run_command({ccmux::test::ccmux_bin(), "policy", "test", ccmux::test::source_dir() + "/scripts/default.lua",
                            "--tool", tool, "--input", input.dump(), "--cwd", cwd},
                           &out);
  auto at = out.find("decision: ");
  return at == std::string::npos ? out : out.substr(at + 10, out.find('\n', at) - at - 10);
}
}  // namespace

TEST(DefaultPolicyPaths, SymlinksOutAndGlobPatternsOutsideAreNotAllowed) {
  Tree t;
  EXPECT_EQ(default_policy("Read", {{"file_path", t.proj + "/src/a.cpp"}}, t.proj), "allow");
  EXPECT_EQ(default_policy("Read", {{"file_path", t.proj + "/link/secret.txt"}}, t.proj), "ask");
  EXPECT_EQ(default_policy("Write", {{"file_path", t.proj + "/dangling"}, {"content", "x"}}, t.proj), "deny");
  EXPECT_EQ(default_policy("Glob", {{"pattern", "**/*.cpp"}}, t.proj), "allow");
  EXPECT_EQ(default_policy("Glob", {{"pattern", "*.cpp"}, {"path", t.proj + "/src"}}, t.proj), "allow");
  EXPECT_EQ(default_policy("Glob", {{"pattern", "/etc/*"}}, t.proj), "ask");
  EXPECT_EQ(default_policy("Glob", {{"pattern", "../out/*"}}, t.proj), "ask");
  EXPECT_EQ(default_policy("Glob", {{"pattern", "link/*.txt"}}, t.proj), "ask");
  EXPECT_EQ(default_policy("Glob", {{"pattern", "*"}, {"path", t.proj + "/link"}}, t.proj), "ask");
}
