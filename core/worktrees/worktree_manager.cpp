#include "worktrees/worktree_manager.h"

#include "errors.h"
#include "util.h"
#include "worktrees/git_runner.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace ccmux::worktrees {

namespace fs = std::filesystem;

namespace {

// Symlinks and ".." resolved as far as the path exists, so git's paths and ours compare equal.
std::string canonical_text(const std::string& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::path(p), ec);
  return ec ? fs::path(p).lexically_normal().string() : c.string();
}

bool ref_exists(const std::string& repo, const std::string& ref) {
  return run_git(repo, {"rev-parse", "--verify", "--quiet", ref}).ok();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int64_t count_of(const GitResult& r) {
  try {
    return std::stoll(r.out);
  } catch (const std::exception&) {
    return 0;
  }
}

const GitWorktree* find_path(const std::vector<GitWorktree>& wts, const std::string& path) {
  std::string want = canonical_text(path);
  for (auto& w : wts)
    if (canonical_text(w.path) == want) return &w;
  return nullptr;
}

}  // namespace

void check_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name != "." && name.find("..") == std::string::npos && name[0] != '-';
  for (char c : name) ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!ok)
    throw CommandError("bad_params", "bad worktree name '" + name.substr(0, 80) +
                                         "': 1-64 of letters, digits, '-', '_', '.', not starting with '-', no '..'");
}

void check_ref_text(const std::string& ref, const char* what) {
  // "@" and "@{-1}" pass git's own check but name another branch (HEAD, the previous one).
  bool ok = !ref.empty() && ref.size() <= 255 && ref[0] != '-' && ref != "@" && ref.find("@{") == std::string::npos;
  for (char c : ref) ok = ok && static_cast<unsigned char>(c) > ' ' && c != 0x7f;
  if (!ok)
    throw CommandError("bad_params", std::string("bad ") + what + " '" + ref.substr(0, 80) +
                                         "': no spaces or control characters, no '@{' and not '@', not starting with '-', "
                                         "at most 255 bytes");
}

std::vector<GitWorktree> git_worktrees(const std::string& repo) {
  GitResult r = git_checked(repo, {"worktree", "list", "--porcelain", "-z"});
  std::vector<GitWorktree> out;
  GitWorktree cur;
  bool open = false;
  size_t start = 0;
  // Fields end with NUL; an empty field ends a worktree's record.
  while (start <= r.out.size()) {
    size_t end = r.out.find('\0', start);
    if (end == std::string::npos) end = r.out.size();
    std::string f = r.out.substr(start, end - start);
    start = end + 1;
    if (f.empty()) {
      if (open) out.push_back(cur);
      cur = {};
      open = false;
      if (end == r.out.size()) break;
      continue;
    }
    auto value = [&](const char* key) { return f.size() > std::strlen(key) ? f.substr(std::strlen(key) + 1) : ""; };
    if (f.rfind("worktree ", 0) == 0) {
      cur.path = value("worktree");
      open = true;
    } else if (f.rfind("HEAD ", 0) == 0) {
      cur.head = value("HEAD");
    } else if (f.rfind("branch ", 0) == 0) {
      cur.branch = value("branch");
      if (cur.branch.rfind("refs/heads/", 0) == 0) cur.branch = cur.branch.substr(11);
    } else if (f == "bare") {
      cur.bare = true;
    } else if (f == "detached") {
      cur.detached = true;
    } else if (f.rfind("locked", 0) == 0) {
      cur.locked = true;
    } else if (f.rfind("prunable", 0) == 0) {
      cur.prunable = true;
    }
  }
  return out;
}

std::string repo_root(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw CommandError("not_a_repository", "not a directory: " + dir);
  GitResult top = run_git(dir, {"rev-parse", "--show-toplevel"});
  if (!top.ok() || top.out.empty())
    throw CommandError("not_a_repository", dir + " is not in a git work tree: " + git_failure(top));
  std::string here = lines_of(top.out).at(0);
  // The first entry of `git worktree list` is the main work tree, also when `dir` is in a linked one.
  auto wts = git_worktrees(here);
  return wts.empty() ? here : canonical_text(wts.front().path);
}

std::string worktrees_home(const std::string& repo, const std::string& configured) {
  fs::path r(repo);
  fs::path base = configured.empty() ? r.parent_path() / ".ccmux-worktrees" : fs::path(configured);
  return canonical_text((base / r.filename()).string());
}

std::string worktree_path(const std::string& repo, const std::string& name, const std::string& configured) {
  check_name(name);
  return worktrees_home(repo, configured) + "/" + name;
}

WorktreeStatus worktree_status(const std::string& repo, const GitWorktree& wt, const std::string& configured) {
  WorktreeStatus s;
  s.git = wt;
  s.name = fs::path(wt.path).filename().string();
  std::string home = worktrees_home(repo, configured);
  s.managed = canonical_text(fs::path(wt.path).parent_path().string()) == home;
  std::error_code ec;
  if (wt.prunable || !fs::is_directory(wt.path, ec)) {
    s.error = "its folder is gone (`ccmux worktrees prune` forgets it)";
    return s;
  }
  GitResult st = run_git(wt.path, {"status", "--porcelain"});
  if (!st.ok()) {
    s.error = git_failure(st);
    return s;
  }
  s.changes = static_cast<int64_t>(lines_of(st.out).size());
  s.dirty = s.changes > 0;
  if (!wt.branch.empty()) {
    GitResult up = run_git(wt.path, {"rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"});
    if (up.ok() && !up.out.empty()) s.upstream = lines_of(up.out).at(0);
  }
  // Work that would exist nowhere else: ahead of the upstream; without one, on no remote branch;
  // in a repository with no remote at all, on no other local branch.
  GitResult n;
  if (!s.upstream.empty()) {
    n = run_git(wt.path, {"rev-list", "--count", "@{u}..HEAD"});
  } else if (!run_git(wt.path, {"remote"}).out.empty()) {
    n = run_git(wt.path, {"rev-list", "--count", "HEAD", "--not", "--remotes"});
  } else if (!wt.branch.empty()) {
    n = run_git(wt.path, {"rev-list", "--count", "HEAD", "--not", "--exclude=" + wt.branch, "--branches"});
  } else {
    n = run_git(wt.path, {"rev-list", "--count", "HEAD", "--not", "--branches"});
  }
  if (n.ok()) s.unpushed = count_of(n);
  else s.error = git_failure(n);
  return s;
}

std::vector<WorktreeStatus> list_worktrees(const std::string& repo, const std::string& configured) {
  std::vector<WorktreeStatus> out;
  auto wts = git_worktrees(repo);
  for (size_t i = 1; i < wts.size(); ++i) out.push_back(worktree_status(repo, wts[i], configured));
  return out;
}

EnsureResult ensure_worktree(const EnsureRequest& req) {
  check_name(req.name);
  if (!req.branch.empty()) check_ref_text(req.branch, "branch");
  if (!req.from.empty()) check_ref_text(req.from, "ref");
  EnsureResult res;
  res.repo = repo_root(req.cwd);
  res.name = req.name;
  res.path = worktree_path(res.repo, req.name, req.configured_dir);
  auto wts = git_worktrees(res.repo);
  if (const GitWorktree* w = find_path(wts, res.path); w && !w->prunable) {
    if (!req.branch.empty() && w->detached)
      throw CommandError("worktree_conflict", "worktree " + req.name + " (" + res.path + ") has a detached HEAD (at " +
                                                  w->head.substr(0, 12) + "), not branch " + req.branch +
                                                  ": check the branch out there, or use another worktree name");
    if (!req.branch.empty() && w->branch != req.branch)
      throw CommandError("worktree_conflict", "worktree " + req.name + " (" + res.path + ") has branch " + w->branch +
                                                  " checked out, not " + req.branch + ": use another worktree name");
    res.branch = w->branch;
    return res;
  } else if (w) {
    git_checked(res.repo, {"worktree", "prune"});  // its folder was deleted by hand: git forgets it first
  }
  std::error_code ec;
  if (fs::exists(fs::symlink_status(res.path, ec)))
    throw CommandError("worktree_conflict", res.path + " exists and is not a worktree of " + res.repo +
                                                ": move it away, or use another worktree name");

  std::string branch = req.branch.empty() ? "ccmux/" + req.name : req.branch;
  // git's own check of the name (no "..", no "~^:", no ".lock" ...), with git's message.
  // It prints the branch name it understood: anything but the name given is another branch.
  GitResult fmt = git_checked(res.repo, {"check-ref-format", "--branch", branch}, "bad_params");
  std::string understood = fmt.out;
  while (!understood.empty() && (understood.back() == '\n' || understood.back() == '\r')) understood.pop_back();
  if (understood != branch)
    throw CommandError("bad_params", "bad branch '" + branch + "': git reads it as '" + understood + "'");
  std::vector<std::string> add = {"worktree", "add"};
  if (ref_exists(res.repo, "refs/heads/" + branch)) {
    add.insert(add.end(), {res.path, branch});  // git refuses a branch checked out in another worktree
  } else if (!req.branch.empty() && ref_exists(res.repo, "refs/remotes/origin/" + branch)) {
    add.insert(add.end(), {"--track", "-b", branch, res.path, "origin/" + branch});
  } else {
    add.insert(add.end(), {"-b", branch, res.path, req.from.empty() ? "HEAD" : req.from});
  }
  fs::create_directories(fs::path(res.path).parent_path(), ec);
  if (ec)
    throw CommandError("git_error", "cannot make the worktrees folder " + fs::path(res.path).parent_path().string() +
                                        ": " + ec.message());
  GitResult r = run_git(res.repo, add);
  if (!r.ok()) {
    fs::remove(res.path, ec);  // an empty folder git may have left (never a full one: remove() only takes empty dirs)
    throw CommandError("git_error", git_failure(r));
  }
  res.branch = branch;
  res.created = true;
  return res;
}

void remove_worktree(const std::string& repo, const std::string& path, bool force, const std::string& configured) {
  auto wts = git_worktrees(repo);
  const GitWorktree* w = find_path(wts, path);
  if (!w) throw CommandError("not_found", "no worktree " + path + " in " + repo + " (`git worktree list`)");
  if (w == &wts.front()) throw CommandError("bad_params", path + " is the main work tree of " + repo + ", not a worktree");
  std::string name = fs::path(w->path).filename().string();
  if (canonical_text(fs::path(w->path).parent_path().string()) != worktrees_home(repo, configured))
    throw CommandError("bad_params", w->path + " was not made by ccmux (not under " + worktrees_home(repo, configured) +
                                         "): remove it with git worktree remove");
  if (!force) {
    WorktreeStatus s = worktree_status(repo, *w, configured);
    // Unknown is not clean: work that cannot be seen is not removed without force.
    if (!s.error.empty())
      throw CommandError("git_error", "cannot tell whether worktree " + name + " (" + w->path +
                                          ") has uncommitted or unpushed work: " + s.error + "; remove with force");
    if (s.dirty) {
      GitResult st = run_git(w->path, {"status", "--porcelain"});
      throw CommandError("worktree_dirty", "worktree " + name + " (" + w->path + ") has uncommitted changes (`" +
                                               st.command + "`: " + std::to_string(s.changes) + " entries, first '" +
                                               lines_of(st.out).at(0) + "'): commit or stash them, or remove with force");
    }
    if (s.unpushed > 0)
      throw CommandError("worktree_unpushed",
                         "worktree " + name + " (" + w->path + ") has " + std::to_string(s.unpushed) + " commit(s) " +
                             (s.upstream.empty() ? "on no remote branch" : "not pushed to " + s.upstream) +
                             " (branch " + (w->branch.empty() ? "detached HEAD" : w->branch) +
                             "): push them, or remove with force (the branch and its commits stay in the repository)");
  }
  std::vector<std::string> args = {"worktree", "remove"};
  if (force) args.push_back("--force");
  args.push_back(w->path);
  git_checked(repo, args);
}

std::vector<std::string> prune_worktrees(const std::string& repo) {
  GitResult r = git_checked(repo, {"worktree", "prune", "-v"});
  auto out = lines_of(r.out);
  for (auto& l : lines_of(r.err)) out.push_back(l);
  return out;
}

}  // namespace ccmux::worktrees
