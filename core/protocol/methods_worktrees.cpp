// Git worktrees for sessions (issue 15): session.new with a `worktree`, and worktree.list,
// worktree.remove, worktree.prune. Git runs on the daemon's git thread (worktrees/git_worker.h);
// what touches the store and the sessions runs on the loop before and after. The worktrees ccmux
// made are recorded (table `worktrees`) so that list and prune know every repository to look at.
#include "protocol/builtin_methods.h"

#include "daemon/core.h"
#include "util.h"
#include "worktrees/worktree_manager.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>

namespace ccmux {

using nlohmann::json;
namespace wt = worktrees;

namespace {

json error_json(const std::string& code, const std::string& message) { return {{"code", code}, {"message", message}}; }

// `work` on the git thread, then `then(result, done)` on the loop, which answers. A CommandError
// from either answers the request with its code (git's failures carry the command and git's own
// line); `failed` runs on the loop when either threw (to undo a mark).
template <class R>
void off_loop(Core& core, MethodDone done, std::function<R()> work, std::function<void(R&, const MethodDone&)> then,
              std::function<void()> failed = {}) {
  core.git->submit([done = std::move(done), work = std::move(work), then = std::move(then),
                    failed = std::move(failed)]() -> wt::GitWorker::Task {
    std::shared_ptr<R> result;
    json error;
    try {
      result = std::make_shared<R>(work());
    } catch (const CommandError& e) {
      error = error_json(e.code, e.what());
    } catch (const std::exception& e) {
      error = error_json("internal", e.what());
    }
    return [done, then, failed, result, error]() mutable {
      if (result) {
        try {
          return then(*result, done);
        } catch (const CommandError& e) {
          error = error_json(e.code, e.what());
        } catch (const std::exception& e) {
          spdlog::error("worktrees: {}", e.what());
          error = error_json("internal", e.what());
        }
      }
      if (failed) failed();
      done(false, error);
    };
  });
}

// The repositories to look at: `repo` when given (under a project root), else every one ccmux
// made a worktree in or a session ran in.
std::vector<std::string> repos_of(Core& core, const Fields& p) {
  if (p.has("repo")) return {core.supervisor->allowed_cwd(p.str("repo"))};
  std::set<std::string> repos;
  for (auto& w : core.store->worktree_list()) repos.insert(w.repo);
  for (auto& s : core.supervisor->list())
    if (!s.value("repo", "").empty()) repos.insert(s.value("repo", ""));
  return {repos.begin(), repos.end()};
}

json status_json(const std::string& repo, const wt::WorktreeStatus& s, const std::string& user) {
  json j = {{"repo", repo},
            {"name", s.name},
            {"path", s.git.path},
            {"branch", s.git.branch},
            {"head", s.git.head},
            {"detached", s.git.detached},
            {"locked", s.git.locked},
            {"prunable", s.git.prunable},
            {"managed", s.managed},
            {"dirty", s.dirty},
            {"changes", s.changes},
            {"upstream", s.upstream},
            {"unpushed", s.unpushed},
            {"session", user}};
  if (!s.error.empty()) j["error"] = s.error;
  return j;
}

struct Listed {
  std::vector<std::pair<std::string, wt::WorktreeStatus>> worktrees;
  std::vector<std::pair<std::string, std::string>> errors;  // repo, message
};

std::string in_use_message(const std::string& name, const std::string& path, const std::string& session) {
  return "worktree " + name + " (" + path + ") is used by session " + session + ": stop it first (ccmux stop " + session +
         ")";
}

struct Target {
  std::string repo, path, name;
};

void remove_target(Core& core, const MethodDone& done, Target t, bool force) {
  std::string user = core.supervisor->worktree_user(t.path);
  // Even with force: the session's claude would go on in a folder that is gone.
  if (!user.empty()) return done(false, error_json("worktree_in_use", in_use_message(t.name, t.path, user)));
  if (!core.worktrees_removing.insert(t.path).second)
    return done(false, error_json("worktree_in_use", "worktree " + t.name + " (" + t.path + ") is being removed"));
  std::string dir = core.config.worktrees_dir;
  Core* c = &core;
  off_loop<Target>(
      core, done,
      [t, force, dir] {
        wt::remove_worktree(t.repo, t.path, force, dir);
        return t;
      },
      [c](Target& r, const MethodDone& answer) {
        c->worktrees_removing.erase(r.path);
        c->store->worktree_delete(r.path);
        answer(true, {{"removed", true}, {"repo", r.repo}, {"path", r.path}, {"name", r.name}});
      },
      [c, path = t.path] { c->worktrees_removing.erase(path); });
}

}  // namespace

void new_session_in_worktree(Call& c, const MethodDone& done) {
  Core& core = c.core;
  wt::EnsureRequest req;
  // The folder asked for must be under a project root; the worktree made from it is allowed then,
  // wherever worktrees.dir puts it.
  req.cwd = core.supervisor->allowed_cwd(c.p.str("cwd"));
  req.name = c.p.str("worktree");
  req.branch = c.p.str("branch");
  req.from = c.p.str("from");
  req.configured_dir = core.config.worktrees_dir;
  wt::check_name(req.name);  // bad input is answered before anything runs
  if (!req.branch.empty()) wt::check_ref_text(req.branch, "branch");
  if (!req.from.empty()) wt::check_ref_text(req.from, "ref");
  json prompt = c.p.any("prompt");
  std::string model = c.p.str("model"), mode = c.p.str("permission_mode");
  Supervisor::check_new_session(mode, prompt);  // no worktree is made for a request create() would refuse
  Core* cp = &core;
  off_loop<wt::EnsureResult>(
      core, done, [req] { return wt::ensure_worktree(req); },
      [cp, prompt, model, mode](wt::EnsureResult& r, const MethodDone& answer) {
        if (cp->worktrees_removing.count(r.path))
          throw CommandError("worktree_in_use", "worktree " + r.name + " (" + r.path + ") is being removed");
        if (!r.created)
          if (std::string user = cp->supervisor->worktree_user(r.path); !user.empty())
            throw CommandError("worktree_in_use", in_use_message(r.name, r.path, user));
        cp->store->worktree_upsert({r.path, r.repo, r.name, r.branch, now_ms()});
        Supervisor& sup = *cp->supervisor;
        std::string id = sup.create(r.path, prompt, model, mode, {r.repo, r.path, r.name, r.branch});
        spdlog::info("session {} in worktree {} of {} (branch {}, {})", id, r.path, r.repo, r.branch,
                     r.created ? "made" : "reused");
        answer(true, sup.info(id));
      });
}

void add_worktree_methods(MethodRegistry& r) {
  Param repo = {.name = "repo", .meaning = "a folder of the repository (default: every repository ccmux knows)"};
  add_builtin(r, {.name = "worktree.list",
                  .params = {repo},
                  .result = "{worktrees: [{repo, name, path, branch, head, detached, locked, prunable, managed, dirty, "
                            "changes, upstream, unpushed, session, error?}], errors: [{repo, message}]}",
                  .handler = [](Call& c, const MethodDone& done) {
                    Core* core = &c.core;
                    std::vector<std::string> repos = repos_of(c.core, c.p);
                    std::string dir = c.core.config.worktrees_dir;
                    off_loop<Listed>(
                        c.core, done,
                        [repos, dir] {
                          Listed l;
                          for (auto& r : repos) {
                            try {
                              std::string root = wt::repo_root(r);
                              for (auto& s : wt::list_worktrees(root, dir)) l.worktrees.emplace_back(root, s);
                            } catch (const CommandError& e) {
                              l.errors.emplace_back(r, e.what());
                            }
                          }
                          return l;
                        },
                        [core](Listed& l, const MethodDone& answer) {
                          json out = json::array(), errors = json::array();
                          for (auto& [r, s] : l.worktrees)
                            out.push_back(status_json(r, s, core->supervisor->worktree_user(s.git.path)));
                          for (auto& [r, m] : l.errors) errors.push_back({{"repo", r}, {"message", m}});
                          answer(true, {{"worktrees", out}, {"errors", errors}});
                        });
                  }});
  add_builtin(r, {.name = "worktree.remove",
                  .params = {{.name = "name", .meaning = "the worktree's NAME (or give path)"},
                             {.name = "path", .meaning = "the worktree's folder (or give name)"},
                             {.name = "repo", .meaning = "a folder of its repository, when NAME is in several"},
                             {.name = "force", .type = ParamType::boolean,
                              .meaning = "remove even with uncommitted changes or unpushed commits"}},
                  .result = "{removed: true, repo, path, name}; refused while a session uses it, even with force",
                  .handler = [](Call& c, const MethodDone& done) {
                    std::string name = c.p.str("name"), path = c.p.str("path");
                    if (!path.empty()) {
                      std::error_code ec;
                      auto canon = std::filesystem::weakly_canonical(expand_home(path), ec);
                      if (!ec) path = canon.string();
                    }
                    bool force = c.p.boolean("force", false);
                    if (name.empty() == path.empty())
                      throw CommandError("bad_params", "give the worktree's name or its path (one of them)");
                    if (!name.empty()) wt::check_name(name);
                    std::string repo = c.p.has("repo") ? c.core.supervisor->allowed_cwd(c.p.str("repo")) : "";
                    std::vector<WorktreeRow> found;
                    for (auto& w : c.core.store->worktree_list()) {
                      bool same = path.empty() ? w.name == name : w.path == path;
                      if (same && (repo.empty() || path_inside(repo, w.repo))) found.push_back(w);
                    }
                    if (found.size() > 1) {
                      std::string repos;
                      for (auto& w : found) repos += (repos.empty() ? "" : ", ") + w.repo;
                      throw CommandError("bad_params", "worktree " + name + " is in several repositories (" + repos +
                                                           "): say which with repo");
                    }
                    if (found.size() == 1) return remove_target(c.core, done, {found[0].repo, found[0].path, found[0].name}, force);
                    // Not recorded (made by another store, or by hand under ccmux's folder): ask git.
                    if (repo.empty())
                      throw CommandError("not_found", "no worktree " + (name.empty() ? path : name) +
                                                          " recorded by ccmux (give repo to look in a repository)");
                    Core* core = &c.core;
                    std::string dir = c.core.config.worktrees_dir;
                    off_loop<Target>(
                        c.core, done,
                        [repo, name, path, dir] {
                          Target t;
                          t.repo = wt::repo_root(repo);
                          t.path = path.empty() ? wt::worktree_path(t.repo, name, dir) : path;
                          t.name = std::filesystem::path(t.path).filename().string();
                          return t;
                        },
                        [core, force](Target& t, const MethodDone& answer) { remove_target(*core, answer, t, force); });
                  }});
  add_builtin(r, {.name = "worktree.prune",
                  .params = {repo},
                  .result = "{pruned: [git's lines], forgotten: [paths]}: git forgets worktrees whose folder is gone, "
                            "ccmux its records of them",
                  .handler = [](Call& c, const MethodDone& done) {
                    Core* core = &c.core;
                    std::vector<std::string> repos = repos_of(c.core, c.p);
                    struct Pruned {
                      std::vector<std::string> lines;
                      std::set<std::string> repos, alive;  // repositories pruned; worktree paths git still has
                    };
                    off_loop<Pruned>(
                        c.core, done,
                        [repos] {
                          Pruned p;
                          for (auto& r : repos) {
                            std::string root = wt::repo_root(r);
                            for (auto& l : wt::prune_worktrees(root)) p.lines.push_back(root + ": " + l);
                            for (auto& w : wt::git_worktrees(root)) p.alive.insert(w.path);
                            p.repos.insert(root);
                          }
                          return p;
                        },
                        [core](Pruned& p, const MethodDone& answer) {
                          json forgotten = json::array();
                          for (auto& w : core->store->worktree_list()) {
                            std::error_code ec;
                            bool gone = !p.alive.count(w.path) || !std::filesystem::is_directory(w.path, ec);
                            if (p.repos.count(w.repo) && gone && core->supervisor->worktree_user(w.path).empty()) {
                              core->store->worktree_delete(w.path);
                              forgotten.push_back(w.path);
                            }
                          }
                          answer(true, {{"pruned", p.lines}, {"forgotten", forgotten}});
                        });
                  }});
}

}  // namespace ccmux
