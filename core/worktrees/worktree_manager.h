// Git worktrees made by ccmux for sessions, through the git CLI (git_runner.h). Every function
// blocks while git runs: call them off the event loop (git_worker.h). They hold no state (git's
// own files are the truth) and throw CommandError with a message naming the git command that
// failed and git's own reason:
//   not_a_repository   the folder is not inside a git work tree
//   git_error          a git command failed (unknown ref, branch checked out elsewhere, ...)
//   worktree_conflict  the worktree exists on another branch or a detached HEAD; the path is taken
//   worktree_dirty     uncommitted changes (remove without force)
//   worktree_unpushed  commits on no remote (remove without force)
//   not_found          no such worktree of that repository
//   bad_params         a hostile or malformed name, branch or ref
// Which sessions use a worktree is the daemon's business, not this file's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ccmux::worktrees {

// A worktree NAME: 1-64 of letters, digits, '-', '_', '.'; not "." nor starting with '-' nor containing
// "..". Throws bad_params.
void check_name(const std::string& name);
// A branch or ref given by a client: non-empty, no leading '-' (never an option to git), no
// control characters or spaces, at most 255 bytes. `what` names it in the message. Throws bad_params.
void check_ref_text(const std::string& ref, const char* what);

// The top level of the main work tree of the repository holding `dir` (for a folder inside a
// linked worktree: the repository it belongs to).
std::string repo_root(const std::string& dir);

// Where ccmux puts NAME's worktree for `repo`: <base>/<repo's folder name>/NAME, where base is
// `configured` (worktrees.dir) or, when empty, <repo>/../.ccmux-worktrees (outside the work tree).
std::string worktree_path(const std::string& repo, const std::string& name, const std::string& configured);
// The folder holding all of `repo`'s worktrees (worktree_path without NAME).
std::string worktrees_home(const std::string& repo, const std::string& configured);

// One entry of `git worktree list --porcelain`.
struct GitWorktree {
  std::string path;
  std::string head;    // commit id
  std::string branch;  // short name; "" when detached or bare
  bool bare = false, detached = false, locked = false, prunable = false;
};
std::vector<GitWorktree> git_worktrees(const std::string& repo);

struct WorktreeStatus {
  GitWorktree git;
  std::string name;     // the folder's name
  bool managed = false;  // under ccmux's worktrees folder for this repo
  bool dirty = false;
  int64_t changes = 0;   // lines of `git status --porcelain` (untracked files count)
  std::string upstream;  // "" when the branch has none
  int64_t unpushed = 0;  // commits of HEAD on no remote branch (upstream: @{u}..HEAD)
  std::string error;     // the status could not be read (a missing folder): why
};
// The status of one worktree (dirty, unpushed).
WorktreeStatus worktree_status(const std::string& repo, const GitWorktree& wt, const std::string& configured);
// Every linked worktree of `repo` (not its main work tree), with status.
std::vector<WorktreeStatus> list_worktrees(const std::string& repo, const std::string& configured);

struct EnsureRequest {
  std::string cwd;     // any folder inside the repository
  std::string name;    // NAME
  std::string branch;  // "" = ccmux/NAME
  std::string from;    // "" = HEAD: where a new branch starts
  std::string configured_dir;  // worktrees.dir
};
struct EnsureResult {
  std::string repo, path, name, branch;
  bool created = false;  // false: an existing worktree of that name was reused
};
// NAME's worktree of the repository holding `cwd`, made when missing:
//  - it exists: reused (worktree_conflict when `branch` is given and it is not checked out there);
//  - `branch` exists locally: checked out (git refuses one checked out elsewhere);
//  - only origin/<branch> exists: a local branch tracking it;
//  - otherwise `branch` (default ccmux/NAME) is created from `from` (default HEAD).
EnsureResult ensure_worktree(const EnsureRequest& req);

// `git worktree remove`. Without `force`: refused when dirty or unpushed. The main work tree
// and worktrees not under ccmux's folder for `repo` are refused.
void remove_worktree(const std::string& repo, const std::string& path, bool force, const std::string& configured);

// `git worktree prune -v`: what git said it removed (worktrees whose folder is gone).
std::vector<std::string> prune_worktrees(const std::string& repo);

}  // namespace ccmux::worktrees
