#include "danger.h"

#include <cctype>
#include <set>
#include <string_view>

namespace ccmux::approval {

namespace {

// Programs that run another command (wrappers, shells, shell keywords and builtins) or that
// change what later commands do: whatever follows them is not what a pattern was learned on.
const std::set<std::string_view> kRunsAnother = {
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "env", "command", "builtin", "exec",
    "eval", "source", ".", "xargs", "parallel", "nice", "nohup", "time", "timeout", "stdbuf", "ionice",
    "chrt", "taskset", "setsid", "flock", "watch", "strace", "ltrace", "gdb", "busybox", "sudo", "doas", "su",
    "runuser", "pkexec", "chroot", "unshare", "nsenter", "fakeroot", "firejail", "systemd-run", "script",
    "expect", "at", "batch", "crontab", "vi", "vim", "nvim", "ex", "emacs", "!", "coproc", "if", "while",
    "until", "for", "case", "select", "function", "[[", "alias", "trap", "export", "declare", "typeset",
    "set", "shopt", "enable", "hash", "cd", "pushd", "popd", "umask", "ulimit", "ssh"};

// Programs that destroy data whatever their flags.
const std::set<std::string_view> kDestroys = {"shred", "wipefs", "dd", "mkswap", "mke2fs", "fdisk",
                                              "sfdisk", "parted", "blkdiscard", "truncate"};

struct Rule {
  std::string_view program;
  std::string_view sub;   // "" = any sub-command
  std::string_view sub2;  // "" = any; else the first positional ("drop" in git stash drop)
  bool whole;             // the command itself, with any flags
  std::string_view letters;                 // short options, also inside a bundle (-rf)
  std::vector<std::string_view> longs;      // long options, also abbreviated (--forc) or extended
  std::vector<std::string_view> words;      // single-dash long options (find -delete), exact
  std::string_view positional_prefixes;     // git push origin +main / :main
  std::string_view why;
};

const std::vector<Rule> kRules = {
    {"find", "", "", false, "", {}, {"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"}, "",
     "find -delete/-exec/-ok/-fprint deletes files, runs commands or writes files"},
    {"rm", "", "", false, "rRf", {"--recursive", "--force", "--no-preserve-root"}, {}, "", "rm -r/-f"},
    {"cp", "", "", false, "f", {"--force", "--remove-destination"}, {}, "", "cp -f"},
    {"mv", "", "", false, "f", {"--force"}, {}, "", "mv -f"},
    {"ln", "", "", false, "f", {"--force"}, {}, "", "ln -f replaces files"},
    {"chmod", "", "", false, "R", {"--recursive"}, {}, "", "chmod -R"},
    {"chown", "", "", false, "R", {"--recursive"}, {}, "", "chown -R"},
    {"chgrp", "", "", false, "R", {"--recursive"}, {}, "", "chgrp -R"},
    {"sed", "", "", false, "i", {"--in-place"}, {}, "", "sed -i edits files in place"},
    {"awk", "", "", false, "i", {"--include"}, {}, "", "awk -i inplace edits files"},
    {"gawk", "", "", false, "i", {"--include"}, {}, "", "gawk -i inplace edits files"},
    {"perl", "", "", false, "ieE", {}, {}, "", "perl -e runs inline code, -i edits in place"},
    {"ruby", "", "", false, "ei", {}, {}, "", "ruby -e runs inline code, -i edits in place"},
    {"python", "", "", false, "c", {}, {}, "", "python -c runs inline code"},
    {"node", "", "", false, "ep", {"--eval", "--print"}, {}, "", "node -e runs inline code"},
    {"php", "", "", false, "r", {}, {}, "", "php -r runs inline code"},
    {"lua", "", "", false, "e", {}, {}, "", "lua -e runs inline code"},
    {"Rscript", "", "", false, "e", {}, {}, "", "Rscript -e runs inline code"},
    {"bun", "", "", false, "e", {"--eval"}, {}, "", "bun -e runs inline code"},
    {"deno", "eval", "", true, "", {}, {}, "", "deno eval runs inline code"},
    {"tar", "", "", false, "PIF",
     {"--to-command", "--use-compress-program", "--checkpoint-action", "--rmt-command", "--rsh-command",
      "--info-script", "--new-volume-script", "--remove-files", "--absolute-names", "--recursive-unlink",
      "--unlink-first"},
     {}, "", "tar can run commands, write outside the folder or remove files"},
    {"zip", "", "", false, "mT", {"--move", "--unzip-command"}, {}, "", "zip -m removes files, -TT runs a command"},
    {"rsync", "", "", false, "e", {"--rsh", "--rsync-path", "--delete", "--remove-source-files"}, {}, "",
     "rsync -e runs a command, --delete removes files"},
    {"make", "", "", false, "", {"--eval"}, {}, "", "make --eval runs inline rules"},
    {"rg", "", "", false, "", {"--pre"}, {}, "", "rg --pre runs a command on every file"},
    {"fd", "", "", false, "xX", {"--exec", "--exec-batch"}, {}, "", "fd -x runs a command"},
    {"fdfind", "", "", false, "xX", {"--exec", "--exec-batch"}, {}, "", "fd -x runs a command"},
    {"scp", "", "", false, "S", {}, {}, "", "scp -S runs a program"},
    {"go", "env", "", false, "wu", {}, {}, "", "go env -w changes what later go commands run"},
    // git: anything that deletes work or history, or runs a command
    {"git", "", "", false, "", {"--upload-pack", "--receive-pack", "--exec", "--extcmd"}, {}, "",
     "git --upload-pack/--exec runs a command"},
    {"git", "push", "", false, "fd", {"--force", "--force-with-lease", "--force-if-includes", "--delete", "--mirror", "--prune"},
     {}, "+:", "git push --force/--delete or a +/: refspec rewrites or deletes remote history"},
    {"git", "clean", "", true, "", {}, {}, "", "git clean deletes untracked files"},
    {"git", "checkout", "", true, "", {}, {}, "", "git checkout overwrites uncommitted work"},
    {"git", "restore", "", true, "", {}, {}, "", "git restore discards uncommitted work"},
    {"git", "reset", "", false, "", {"--hard", "--merge", "--keep"}, {}, "", "git reset --hard discards work"},
    {"git", "switch", "", false, "fC", {"--force", "--discard-changes", "--force-create"}, {}, "", "git switch -f discards work"},
    {"git", "branch", "", false, "dDfMC", {"--delete", "--force"}, {}, "", "git branch -D/-f deletes or moves branches"},
    {"git", "tag", "", false, "df", {"--delete", "--force"}, {}, "", "git tag -d/-f deletes or moves tags"},
    {"git", "rm", "", false, "f", {"--force"}, {}, "", "git rm -f deletes uncommitted work"},
    {"git", "config", "", true, "", {}, {}, "",
     "git config can set core.pager, core.fsmonitor or an alias: commands git runs later"},
    {"git", "stash", "drop", true, "", {}, {}, "", "git stash drop deletes a stash"},
    {"git", "stash", "clear", true, "", {}, {}, "", "git stash clear deletes every stash"},
    {"git", "reflog", "expire", true, "", {}, {}, "", "git reflog expire deletes history"},
    {"git", "reflog", "delete", true, "", {}, {}, "", "git reflog delete deletes history"},
    {"git", "worktree", "remove", true, "", {}, {}, "", "git worktree remove deletes a folder"},
    {"git", "worktree", "prune", true, "", {}, {}, "", "git worktree prune"},
    {"git", "submodule", "foreach", true, "", {}, {}, "", "git submodule foreach runs a command"},
    {"git", "submodule", "deinit", true, "", {}, {}, "", "git submodule deinit removes work"},
    {"git", "bisect", "run", true, "", {}, {}, "", "git bisect run runs a command"},
    {"git", "rebase", "", false, "x", {"--exec"}, {}, "", "git rebase -x runs a command"},
    {"git", "clone", "", false, "uc", {"--config", "--template"}, {}, "", "git clone -u/-c can run commands"},
    {"git", "ls-remote", "", false, "u", {}, {}, "", "git ls-remote -u runs a command"},
    {"git", "grep", "", false, "O", {"--open-files-in-pager"}, {}, "", "git grep -O runs a command"},
    {"git", "difftool", "", false, "x", {}, {}, "", "git difftool -x runs a command"},
    {"git", "filter-branch", "", true, "", {}, {}, "", "git filter-branch rewrites history"},
    {"git", "filter-repo", "", true, "", {}, {}, "", "git filter-repo rewrites history"},
    {"git", "prune", "", true, "", {}, {}, "", "git prune deletes objects"},
    {"git", "gc", "", false, "", {"--prune"}, {}, "", "git gc --prune deletes objects"},
    {"git", "update-ref", "", false, "d", {"--delete"}, {}, "", "git update-ref -d deletes a ref"},
    // package managers: forced operations, and sub-commands that run whatever follows them
    {"npm", "", "", false, "f", {"--force"}, {}, "", "npm --force"},
    {"pnpm", "", "", false, "f", {"--force"}, {}, "", "pnpm --force"},
    {"yarn", "", "", false, "f", {"--force"}, {}, "", "yarn --force"},
    {"npm", "exec", "", true, "", {}, {}, "", "npm exec runs the command that follows"},
    {"pnpm", "exec", "", true, "", {}, {}, "", "pnpm exec runs the command that follows"},
    {"pnpm", "dlx", "", true, "", {}, {}, "", "pnpm dlx runs the command that follows"},
    {"yarn", "exec", "", true, "", {}, {}, "", "yarn exec runs the command that follows"},
    {"yarn", "dlx", "", true, "", {}, {}, "", "yarn dlx runs the command that follows"},
    {"bun", "x", "", true, "", {}, {}, "", "bun x runs the command that follows"},
    {"uv", "run", "", true, "", {}, {}, "", "uv run runs the command that follows"},
    {"poetry", "run", "", true, "", {}, {}, "", "poetry run runs the command that follows"},
    {"pipenv", "", "run", true, "", {}, {}, "", "pipenv run runs the command that follows"},
    {"bundle", "exec", "", true, "", {}, {}, "", "bundle exec runs the command that follows"},
    {"pip", "uninstall", "", true, "", {}, {}, "", "pip uninstall"},
    {"apt", "remove", "", true, "", {}, {}, "", "apt remove"},
    {"apt", "purge", "", true, "", {}, {}, "", "apt purge"},
    {"apt-get", "remove", "", true, "", {}, {}, "", "apt-get remove"},
    {"apt-get", "purge", "", true, "", {}, {}, "", "apt-get purge"},
    // containers, clusters, services, infrastructure
    {"docker", "", "", false, "f", {"--force", "--privileged"}, {}, "", "docker --force/--privileged"},
    {"docker", "run", "", true, "", {}, {}, "", "docker run runs any image with any mounts"},
    {"docker", "exec", "", true, "", {}, {}, "", "docker exec runs a command"},
    {"docker", "rm", "", true, "", {}, {}, "", "docker rm"},
    {"docker", "rmi", "", true, "", {}, {}, "", "docker rmi"},
    {"docker", "kill", "", true, "", {}, {}, "", "docker kill"},
    {"docker", "", "prune", true, "", {}, {}, "", "docker … prune deletes data"},
    {"docker", "", "rm", true, "", {}, {}, "", "docker … rm"},
    {"docker", "compose", "down", false, "v", {"--volumes", "--rmi"}, {}, "", "docker compose down -v deletes volumes"},
    {"kubectl", "", "", false, "", {"--force", "--prune"}, {}, "", "kubectl --force/--prune"},
    {"kubectl", "delete", "", true, "", {}, {}, "", "kubectl delete"},
    {"kubectl", "exec", "", true, "", {}, {}, "", "kubectl exec runs a command"},
    {"kubectl", "drain", "", true, "", {}, {}, "", "kubectl drain"},
    {"systemctl", "stop", "", true, "", {}, {}, "", "systemctl stop"},
    {"systemctl", "kill", "", true, "", {}, {}, "", "systemctl kill"},
    {"systemctl", "disable", "", true, "", {}, {}, "", "systemctl disable"},
    {"systemctl", "mask", "", true, "", {}, {}, "", "systemctl mask"},
    {"systemctl", "poweroff", "", true, "", {}, {}, "", "systemctl poweroff"},
    {"systemctl", "reboot", "", true, "", {}, {}, "", "systemctl reboot"},
    {"systemctl", "halt", "", true, "", {}, {}, "", "systemctl halt"},
    {"terraform", "destroy", "", true, "", {}, {}, "", "terraform destroy"},
    {"terraform", "", "", false, "", {}, {"-auto-approve", "-destroy"}, "", "terraform -auto-approve/-destroy"},
    {"gh", "", "delete", true, "", {}, {}, "", "gh … delete"},
    {"gh", "api", "", false, "XfF", {"--method", "--field", "--raw-field", "--input"}, {}, "", "gh api can change anything"},
};

}  // namespace

std::string program_family(const std::string& name) {
  std::string base = name;
  while (!base.empty() && (std::isdigit(static_cast<unsigned char>(base.back())) || base.back() == '.')) base.pop_back();
  if (base == "nodejs") return "node";
  if (base == "python" || base == "pip" || base == "perl" || base == "ruby" || base == "php" || base == "lua" ||
      base == "luajit" || base == "node")
    return base == "luajit" ? "lua" : base;
  return name;
}

namespace {

bool long_matches(std::string_view flag, std::string_view name) {
  // getopt_long and git take any unambiguous abbreviation (--forc); --force-with-lease extends --force.
  if (flag.size() < 3) return false;
  return name.substr(0, flag.size()) == flag || flag.substr(0, name.size()) == name;
}

bool flag_matches(const Rule& r, const std::string& flag) {
  if (flag.rfind("--", 0) == 0) {
    for (auto l : r.longs)
      if (long_matches(flag, l)) return true;
    for (auto w : r.words)  // find takes -delete; --delete is refused, but say no to it too
      if (flag.substr(1) == w) return true;
    return false;
  }
  for (auto w : r.words)
    if (flag == w) return true;
  for (size_t i = 1; i < flag.size(); ++i)  // a bundle: -rf is -r -f
    if (r.letters.find(flag[i]) != std::string_view::npos) return true;
  return false;
}

}  // namespace

std::optional<std::string> danger_of(const CommandShape& c) {
  std::string prog = program_family(c.program);
  if (kRunsAnother.count(prog)) return prog + " runs another command";
  if (kDestroys.count(prog) || prog.rfind("mkfs", 0) == 0) return prog + " destroys data";
  const std::vector<std::string>& flags = c.flags;
  std::string first = c.positionals.empty() ? "" : c.positionals[0];
  for (const Rule& r : kRules) {
    if (r.program != prog || (!r.sub.empty() && r.sub != c.sub) || (!r.sub2.empty() && r.sub2 != first)) continue;
    if (r.whole) return std::string(r.why);
    for (auto& f : flags)
      if (flag_matches(r, f)) return std::string(r.why);
    for (auto& p : c.positionals)
      if (!p.empty() && r.positional_prefixes.find(p[0]) != std::string_view::npos) return std::string(r.why);
  }
  return std::nullopt;
}

}  // namespace ccmux::approval
