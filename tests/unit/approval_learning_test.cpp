// The approval plugin's pure parts: which pattern a tool call generalises to, and when a
// pattern has earned auto-approval. The safety tests run on a real folder tree with symlinks.
#include "harness.h"
#include "learner.h"
#include "pattern.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

using namespace ccmux::approval;
using ccmux::test::TempDir;
using ccmux::test::write_file;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
std::string key(const std::string& tool, const json& input, const std::string& cwd = "/home/u/proj") {
  auto p = pattern_of(tool, input, cwd);
  return p ? p->key : "(none)";
}

// The default never_learn list of the plugin (README).
const std::set<std::string> kDefaultNever = {"rm", "sudo", "su", "dd", "mkfs", "chmod", "chown", "curl", "wget", "ssh",
                                             "scp", "rsync", "kill", "pkill", "killall", "shutdown", "reboot",
                                             "git push", "git reset", "git clean", "git checkout", "npm publish",
                                             "docker rm"};

// A real project next to a folder outside it, with symlinks from the one into the other:
//   root/proj/{src/a.cpp, notes.txt, src/evil -> ../../out/secret.txt (via glob)}
//   root/proj/link -> root/out            (a folder outside)
//   root/proj/secret-link -> root/out/secret.txt
//   root/proj/dangling -> root/out/new.txt (does not exist yet)
//   root/proj/inner -> root/proj/src/deep (two levels down: lexical and real ".." differ)
//   root/home (HOME for "~")
struct Tree {
  TempDir tmp;
  std::string root = fs::canonical(tmp.path).string();
  std::string proj = root + "/proj", out = root + "/out", home = root + "/home";
  std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  Tree() {
    fs::create_directories(proj + "/src/deep");
    fs::create_directories(proj + "/globbed");
    fs::create_directories(out + "/victim");
    fs::create_directories(home);
    write_file(proj + "/src/a.cpp", "int main() {}\n");
    write_file(proj + "/notes.txt", "notes\n");
    write_file(out + "/secret.txt", "outside secret\n");
    write_file(out + "/victim/keep.txt", "keep me\n");
    fs::create_directory_symlink(out, proj + "/link");
    fs::create_symlink(out + "/secret.txt", proj + "/secret-link");
    fs::create_symlink(out + "/new.txt", proj + "/dangling");
    fs::create_directory_symlink(proj + "/src/deep", proj + "/inner");
    fs::create_symlink("../../out/secret.txt", proj + "/globbed/evil");  // relative target
    setenv("HOME", home.c_str(), 1);
  }
  ~Tree() { setenv("HOME", old_home.c_str(), 1); }
  std::string k(const std::string& tool, const json& input) const { return key(tool, input, proj); }
  std::string sh(const std::string& command) const { return key("Bash", {{"command", command}}, proj); }
};
}  // namespace

TEST(ApprovalPattern, BashIsProgramSubCommandAndFlags) {
  Tree t;
  EXPECT_EQ(t.sh("git status"), "Bash:git status");
  EXPECT_EQ(t.sh("git   status --short"), "Bash:git status --short");
  EXPECT_EQ(t.sh("git status -s -b"), t.sh("git status -b -s"));  // a set: order does not matter
  EXPECT_EQ(t.sh("npm test -- --watch=false"), "Bash:npm test --watch");  // values are not part of it
  EXPECT_EQ(t.sh("ls -la src"), "Bash:ls -la");
  EXPECT_EQ(t.sh("ls -la notes.txt"), "Bash:ls -la");  // positional paths inside the project vary freely
  EXPECT_EQ(t.sh("ls src"), "Bash:ls");
  EXPECT_EQ(t.sh("head -20 notes.txt"), "Bash:head -N");
  EXPECT_EQ(t.sh("git stash list"), "Bash:git stash list");  // nested: positionals are part of it
  EXPECT_EQ(t.sh("npm run build"), "Bash:npm run build");
  EXPECT_EQ(t.sh("sed -n 1,5p notes.txt"), "Bash:sed -n 1,5p notes.txt");  // the script is code: exact
  EXPECT_EQ(t.sh("git -C other push"), "(none)");  // no clear sub-command
  EXPECT_EQ(t.sh("FOO=1 make"), "(none)");
}

TEST(ApprovalPattern, ShellLinesWithOperatorsAreNeverPatterns) {
  for (const char* c : {"git status; rm -rf /", "make && make install", "cat a | sh", "echo x > f", "cat < f",
                        "echo `id`", "echo $(id)", "echo $HOME", "sleep 1 &", "a || b", "echo a\nrm b"})
    EXPECT_EQ(key("Bash", {{"command", c}}), "(none)") << c;
  EXPECT_TRUE(has_shell_operators("a;b"));
  EXPECT_FALSE(has_shell_operators("git commit -m fix"));
}

TEST(ApprovalPattern, FileToolsAreFolderAndExtensionInsideTheCwd) {
  EXPECT_EQ(key("Edit", {{"file_path", "/home/u/proj/src/main.cpp"}}), "Edit:src/*.cpp");
  EXPECT_EQ(key("Edit", {{"file_path", "src/util.cpp"}}), "Edit:src/*.cpp");
  EXPECT_EQ(key("Write", {{"file_path", "/home/u/proj/README"}}), "Write:./*");
  EXPECT_EQ(key("Read", {{"file_path", "/home/u/proj/.env"}}), "Read:.env");  // dotfiles by name
  EXPECT_EQ(key("Edit", {{"file_path", "/home/u/proj/.github/workflows/ci.yml"}}), "Edit:.github/workflows/ci.yml");
  EXPECT_EQ(key("Edit", {{"file_path", "/etc/passwd"}}), "(none)");  // outside the project
  EXPECT_EQ(key("Edit", {{"file_path", "/home/u/proj/../other/x.cpp"}}), "(none)");
  EXPECT_TRUE(pattern_of("Read", {{"file_path", "/home/u/proj/a.txt"}}, "/home/u/proj")->read_only);
  EXPECT_FALSE(pattern_of("Edit", {{"file_path", "/home/u/proj/a.txt"}}, "/home/u/proj")->read_only);
}

TEST(ApprovalPattern, OtherTools) {
  EXPECT_EQ(key("WebFetch", {{"url", "https://docs.rs/tokio/latest"}}), "WebFetch:docs.rs");
  EXPECT_EQ(key("Grep", {{"pattern", "x"}, {"path", "/home/u/proj/src"}}), "Grep:src");
  EXPECT_EQ(key("Grep", {{"pattern", "x"}, {"path", "/"}}), "(none)");
  EXPECT_EQ(key("mcp__github__list_issues", json::object()), "mcp__github__list_issues");
  // A field of the wrong type is no pattern (and no exception).
  EXPECT_EQ(key("Grep", {{"pattern", "x"}, {"path", 5}}), "(none)");
  EXPECT_EQ(key("Bash", {{"command", json::array()}}), "(none)");
}

// Autonomy 2 approves read-only tools whose pattern exists (= the path is inside the project).
// Paths are resolved, not compared as text.
TEST(ApprovalPaths, SymlinksOutOfTheProjectAreOutside) {
  Tree t;
  EXPECT_EQ(t.k("Read", {{"file_path", t.proj + "/src/a.cpp"}}), "Read:src/*.cpp");  // still learns inside
  EXPECT_EQ(t.k("Read", {{"file_path", t.proj + "/link/secret.txt"}}), "(none)");     // folder symlink
  EXPECT_EQ(t.k("Read", {{"file_path", t.proj + "/secret-link"}}), "(none)");         // file symlink
  EXPECT_EQ(t.k("Read", {{"file_path", "link/secret.txt"}}), "(none)");               // relative
  EXPECT_EQ(t.k("Write", {{"file_path", t.proj + "/dangling"}}), "(none)");  // would create out/new.txt
  EXPECT_EQ(t.k("Write", {{"file_path", t.proj + "/link/not-yet/x.txt"}}), "(none)");  // not existing yet
  EXPECT_EQ(t.k("Edit", {{"file_path", t.proj + "/link/../proj/src/a.cpp"}}), "Edit:src/*.cpp");
  EXPECT_EQ(t.k("Grep", {{"pattern", "x"}, {"path", t.proj + "/link"}}), "(none)");
  EXPECT_EQ(t.k("LS", {{"path", t.proj + "/link"}}), "(none)");
  EXPECT_EQ(t.k("NotebookRead", {{"notebook_path", t.proj + "/link/n.ipynb"}}), "(none)");
  // A symlink that stays inside is judged by where it leads.
  EXPECT_EQ(t.k("Read", {{"file_path", t.proj + "/inner/x.h"}}), "Read:src/deep/*.h");
  // The project reached through a symlink is still the project.
  fs::create_directory_symlink(t.proj, t.root + "/proj-alias");
  EXPECT_EQ(key("Read", {{"file_path", t.proj + "/src/a.cpp"}}, t.root + "/proj-alias"), "Read:src/*.cpp");
}

TEST(ApprovalPaths, DotDotHomeAndGlobPatternsLeavingTheProject) {
  Tree t;
  // "inner/../.." is the project for the kernel but root/ for a lexical normaliser (node's
  // path.resolve): either reading must stay inside.
  EXPECT_EQ(t.k("Read", {{"file_path", t.proj + "/inner/../../out/secret.txt"}}), "(none)");
  EXPECT_EQ(t.k("Read", {{"file_path", "src/../../out/secret.txt"}}), "(none)");
  EXPECT_EQ(t.k("Read", {{"file_path", "~/x.txt"}}), "(none)");  // "~" is $HOME, not a folder named "~"
  EXPECT_EQ(t.k("Read", {{"file_path", "~"}}), "(none)");
  EXPECT_EQ(t.k("Read", {{"file_path", "~root/x"}}), "(none)");
  EXPECT_EQ(t.k("Glob", {{"pattern", "/etc/*"}}), "(none)");
  EXPECT_EQ(t.k("Glob", {{"pattern", "../out/**"}}), "(none)");
  EXPECT_EQ(t.k("Glob", {{"pattern", "link/*.txt"}}), "(none)");
  EXPECT_EQ(t.k("Glob", {{"pattern", "**/*.cpp"}}), "Glob:.");
  EXPECT_EQ(t.k("Glob", {{"pattern", "*.cpp"}, {"path", t.proj + "/src"}}), "Glob:src");
}

// The case: one "always allow" of a harmless find taught "Bash:find", which then
// approved `find /outside -delete`.
TEST(ApprovalBash, AlwaysAllowOfAHarmlessFindDoesNotApproveFindDelete) {
  Tree t;
  Learner l(3, 0.9, kDefaultNever);
  EXPECT_EQ(t.sh("find " + t.out + " -maxdepth 1 -name x"), "(none)");  // outside: never learned
  std::string harmless = t.sh("find . -maxdepth 1 -name x");
  ASSERT_EQ(harmless, "Bash:find -maxdepth -name");
  l.set_always(harmless, 1, "find . -maxdepth 1 -name x");
  EXPECT_TRUE(l.earned(harmless));
  for (const std::string& attack : std::vector<std::string>{"find " + t.out + " -delete", "find . -delete", "find . -maxdepth 1 -name x -delete",
                                    "find " + t.out + " -maxdepth 1 -name x"}) {
    auto p = pattern_of("Bash", {{"command", attack}}, t.proj);
    EXPECT_FALSE(p && l.earned(p->key)) << attack << " -> " << (p ? p->key : "(none)");
  }
}

// An attacker (the model) trying to get a destructive call approved by a pattern learned from
// a harmless one. Each pair: a person said "always" to the first; the second must not pass.
TEST(ApprovalBash, DestructiveVariantsOfLearnedCommandsAreNotApproved) {
  Tree t;
  write_file(t.proj + "/-rf", "");  // a file named like a flag, for `rm *`
  struct Case {
    std::string learned, attack;
  };
  const std::string out = t.out;
  const std::vector<Case> cases = {
      // find: destructive and exec-like predicates, however written
      {"find . -name x", "find . '-delete'"},
      {"find . -name x", "find . -name x \"-del\"ete"},
      {"find . -name x", "find . -name x --delete"},
      {"find . -name x", "find\t.\t-name\tx\t-delete"},
      {"find . -name x -delete", "find . -name x -delete"},
      {"find . -name x", "find . -name x -exec touch y +"},
      {"find . -name x", "find . -name x -execdir touch y +"},
      {"find . -name x", "find . -name x -ok touch y +"},
      {"find . -name x", "find . -name x -fprint owned.txt"},
      {"find . -name x", "find . *"},  // a leading glob can expand to "-delete" (or "-rf" below)
      // wrappers and interpreters that run another command
      {"command -v find", "command find . -delete"},
      {"env", "env find . -delete"},
      {"env", "env FOO=1 find . -delete"},
      {"find . -name x", "FOO=1 find . -delete"},
      {"timeout 5 ls", "timeout 5 find . -delete"},
      {"nice ls", "nice find . -delete"},
      {"exec ls", "exec find . -delete"},
      {"xargs --version", "xargs -a notes.txt rm"},
      {"bash -c ls", "bash -c 'find . -delete'"},
      {"sh build.sh", "sh -c 'find . -delete'"},
      {"python3 tool.py", "python3 -c 'import shutil'"},
      {"node tool.js", "node -e 'require'"},
      {"perl tool.pl", "perl -pi -e s/a/b/ notes.txt"},
      // the program by another name
      {"/usr/bin/find . -name x", "/usr/bin/find . -delete"},
      {"find . -name x", "/usr/bin/find . -name x"},
      {"./find . -name x", "./find . -delete"},
      // rm (with rm taken off never_learn): bundles, long names and abbreviations
      {"rm notes.txt", "rm -rf src"},
      {"rm notes.txt", "rm -fr src"},
      {"rm notes.txt", "rm -r -f src"},
      {"rm notes.txt", "rm --recursive src"},
      {"rm notes.txt", "rm --rec src"},
      {"rm notes.txt", "rm *"},
      {"rm -v notes.txt", "rm -vrf src"},
      // git (with git push/clean/reset taken off never_learn)
      {"git push origin main", "git push --force origin main"},
      {"git push origin main", "git push -f origin main"},
      {"git push -u origin main", "git push -fu origin main"},
      {"git push origin main", "git push --forc origin main"},
      {"git push origin main", "git push --force-with-lease=main origin main"},
      {"git push origin main", "git push origin +main"},
      {"git push origin main", "git push origin :main"},
      {"git push origin main", "git push --delete origin main"},
      {"git push origin main", "git push origin main --force"},  // a flag after the positionals
      {"git push origin main", "git push origin main -- --force"},
      {"git clean -n", "git clean -fdx"},
      {"git clean -n", "git clean -n"},
      {"git reset HEAD notes.txt", "git reset --hard"},
      {"git reset HEAD notes.txt", "git reset --ha HEAD"},
      {"git stash list", "git stash clear"},
      {"git stash list", "git stash drop"},
      {"git branch -a", "git branch -D main"},
      {"git config user.name", "git config core.fsmonitor touch"},
      {"git log", "git -c core.pager=touch log"},
      {"git log", "git --git-dir=" + out + " log"},
      {"git rebase main", "git rebase -x touch main"},
      {"git clone https://example.com/r.git", "git clone -u touch https://example.com/r.git"},
      {"git clone https://example.com/r.git", "git clone --upload-pack=touch https://example.com/r.git"},
      {"git grep main", "git grep -O touch main"},
      {"rg main src", "rg --pre touch main src"},
      {"fd main src", "fd -x touch main src"},
      {"ssh host uptime", "ssh host 'rm -r x'"},
      {"go env GOPATH", "go env -w GOFLAGS=-toolexec=touch"},
      {"go build -o bin/x", "go build -output=" + out + "/x"},  // Go-style -flag=value
      {"pip install requests", "pip install evil-package"},      // another package is other code
      {"npm install lodash", "npm install evil-package"},
      // sed and other in-place editors; a script is code
      {"sed -n 1p notes.txt", "sed -i s/a/b/ notes.txt"},
      {"sed -n 1p notes.txt", "sed -ibak s/a/b/ notes.txt"},
      {"sed -n 1p notes.txt", "sed --in-place s/a/b/ notes.txt"},
      {"sed -n 1p notes.txt", "sed -n '1e touch owned' notes.txt"},
      {"npm run build", "npm run deploy"},
      // paths leaving the project: "..", "~", absolute, symlinks, globs through symlinks
      {"ls src", "ls .."},
      {"ls src", "ls src/../.."},
      {"ls src", "ls ~"},
      {"ls src", "ls /"},
      {"cat notes.txt", "cat " + out + "/secret.txt"},
      {"cat notes.txt", "cat link/secret.txt"},
      {"cat notes.txt", "cat secret-link"},
      {"cat notes.txt", "cat globbed/*"},
      {"cat notes.txt", "cat --squeeze-blank=../out/secret.txt"},
      {"head -n 1 notes.txt", "head -n1 ../out/secret.txt"},
      {"cp notes.txt src", "cp notes.txt " + out},
      {"cp notes.txt src", "cp -t ../out notes.txt"},
      {"ln -s src x", "ln -s " + out + " y"},
      {"cd src", "cd .."},
  };
  for (const auto& c : cases) {
    Learner l(3, 0.9, {"sudo"});  // the user emptied never_learn: the safety table still holds
    if (auto p = pattern_of("Bash", {{"command", c.learned}}, t.proj)) l.set_always(p->key, 1, c.learned);
    auto p = pattern_of("Bash", {{"command", c.attack}}, t.proj);
    EXPECT_FALSE(p && l.earned(p->key)) << "learned `" << c.learned << "`, then `" << c.attack << "` was approved as "
                                        << p->key;
  }
}

// The safe table must not make learning useless: these still become patterns, and the same call
// is approved again.
TEST(ApprovalBash, HarmlessCallsStillLearn) {
  Tree t;
  for (const char* c : {"find . -maxdepth 1 -name x", "ls -la src", "cat notes.txt", "git status", "git log -5",
                        "git diff HEAD~1", "git commit -m 'fix the thing'", "git push origin main", "npm test",
                        "cargo build --release", "sed -n 1,5p notes.txt", "python3 tool.py", "grep -rn main src",
                        "rm notes.txt", "git add src/a.cpp", "mkdir -p build/out", "./gradlew build"}) {
    auto p = pattern_of("Bash", {{"command", c}}, t.proj);
    ASSERT_TRUE(p) << c;
    Learner l(1, 0.5, {});
    l.record(p->key, true, 1, c);
    EXPECT_TRUE(l.earned(pattern_of("Bash", {{"command", c}}, t.proj)->key)) << c;
  }
}

// Patterns stored by an older version (key "Bash:find" meant any find) stay in the store; a
// call is matched by the key it has now, and a destructive or outside call has none.
TEST(ApprovalLearner, PatternsStoredByAnOlderVersionCannotApproveDestructiveCalls) {
  Tree t;
  json old = json::object();
  for (const char* k : {"Bash:find", "Bash:rm", "Bash:git push", "Bash:git reset", "Bash:sed", "Bash:xargs",
                        "Bash:bash", "Bash:env", "Bash:command", "Bash:cat", "Read:link/*.txt", "Write:./*"})
    old[k] = {{"approvals", 9}, {"approvals_total", 9}, {"denials", 0}, {"always", true}};
  Learner l(3, 0.9, {});
  l.load(old);
  for (const std::string& attack : std::vector<std::string>{
           "find " + t.out + " -delete", "find . -delete", "find " + t.out, "rm -rf src", "rm -f notes.txt",
        "git push --force", "git push origin +main", "git reset --hard", "sed -i s/a/b/ notes.txt",
        "xargs rm", "bash -c ls", "env rm x", "command rm x", "cat " + t.out + "/secret.txt", "cat link/secret.txt"}) {
    auto p = pattern_of("Bash", {{"command", attack}}, t.proj);
    EXPECT_FALSE(p && l.earned(p->key)) << attack << " -> " << p->key;
  }
  for (const std::string& f : std::vector<std::string>{t.proj + "/link/secret.txt", t.proj + "/dangling"}) {
    auto p = pattern_of("Read", {{"file_path", f}}, t.proj);
    EXPECT_FALSE(p && l.earned(p->key)) << f;
    p = pattern_of("Write", {{"file_path", f}}, t.proj);
    EXPECT_FALSE(p && l.earned(p->key)) << f;
  }
  // A stored key that names a destructive or exec-like command approves nothing and is not
  // listed as automatic.
  for (const char* k : {"Bash:rm", "Bash:git push"}) EXPECT_TRUE(l.earned(k)) << k;  // never_learn is empty here
  for (const char* k : {"Bash:xargs", "Bash:bash", "Bash:env", "Bash:command"}) EXPECT_FALSE(l.earned(k)) << k;
  bool listed = false;
  for (auto& row : l.listing()) {
    if (row["pattern"] != "Bash:xargs") continue;
    listed = true;
    EXPECT_FALSE(row["auto"].get<bool>());
    EXPECT_TRUE(row["blocked"].get<bool>());
  }
  EXPECT_TRUE(listed);  // kept in the store and shown, so a person can forget it
  // What an old key still covers is its narrowest meaning today: no flags, paths inside.
  EXPECT_TRUE(l.earned(pattern_of("Bash", {{"command", "find src"}}, t.proj)->key));
  EXPECT_TRUE(l.earned(pattern_of("Bash", {{"command", "cat notes.txt"}}, t.proj)->key));
}

TEST(ApprovalLearner, ThresholdAndOneDenialResets) {
  Learner l(3, 0.9, {"rm", "git push"});
  l.record("Bash:git status", true, 1, "git status");
  l.record("Bash:git status", true, 2, "git status");
  EXPECT_FALSE(l.earned("Bash:git status"));  // 2 < 3
  l.record("Bash:git status", true, 3, "git status");
  auto why = l.earned("Bash:git status");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("3 approvals"), std::string::npos) << *why;
  l.record("Bash:git status", false, 4, "git status");  // one denial: back to zero
  EXPECT_FALSE(l.earned("Bash:git status"));
  for (int i = 0; i < 3; ++i) l.record("Bash:git status", true, 5 + i, "git status");
  EXPECT_FALSE(l.earned("Bash:git status"));  // 3 / (3 + 1) = 0.75 < 0.9
  for (int i = 0; i < 6; ++i) l.record("Bash:git status", true, 9 + i, "git status");
  EXPECT_TRUE(l.earned("Bash:git status"));  // 9 / 10
}

TEST(ApprovalLearner, NeverLearnAlwaysAndPersistence) {
  Learner l(1, 0.5, {"rm", "git push", "Bash:curl"});
  l.record("Bash:rm", true, 1, "rm x");
  l.record("Bash:rm -v", true, 1, "rm -v x");  // flags do not escape never_learn
  l.record("Bash:git push", true, 1, "git push");
  l.record("Bash:git push -u", true, 1, "git push -u origin main");
  l.record("Bash:curl -s", true, 1, "curl -s https://x");  // "Bash:curl" written with its tool
  EXPECT_FALSE(l.earned("Bash:rm"));
  EXPECT_FALSE(l.earned("Bash:rm -v"));
  EXPECT_FALSE(l.earned("Bash:git push"));
  EXPECT_FALSE(l.earned("Bash:git push -u"));
  EXPECT_FALSE(l.earned("Bash:curl -s"));
  EXPECT_TRUE(l.listing().empty());
  l.set_always("Bash:npm test", 2, "npm test");
  EXPECT_TRUE(l.earned("Bash:npm test"));
  Learner again(1, 0.5, {});
  again.load(l.to_json());
  EXPECT_TRUE(again.earned("Bash:npm test"));
  EXPECT_TRUE(again.forget("Bash:npm test"));
  EXPECT_FALSE(again.earned("Bash:npm test"));
}
