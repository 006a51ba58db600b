// `ccmux worktrees [ls | rm NAME [--force] | prune]`: the git worktrees ccmux made for sessions.
#include "commands.h"

#include <cstdio>
#include <iostream>

namespace ccmux::cli {

using nlohmann::json;

namespace {

struct Options {
  std::string repo, name;
  bool force = false, json_out = false;
};

json repo_params(const Options& o) { return o.repo.empty() ? json::object() : json{{"repo", o.repo}}; }

int list(const Context& ctx, const Options& o) {
  json r = ctx.connect()->request("worktree.list", repo_params(o));
  if (o.json_out) {
    std::cout << r.dump(2) << "\n";
    return 0;
  }
  if (!r["worktrees"].empty())
    printf("%-16s %-24s %-8s %-9s %-12s %s\n", "NAME", "BRANCH", "STATUS", "UNPUSHED", "SESSION", "PATH");
  for (auto& w : r["worktrees"]) {
    std::string status = w.value("error", "").empty() ? (w.value("dirty", false) ? "dirty" : "clean") : "missing";
    std::string branch = w.value("detached", false) ? "(detached)" : w.value("branch", "");
    std::string session = w.value("session", "");
    printf("%-16s %-24s %-8s %-9lld %-12s %s%s\n", w.value("name", "").c_str(), branch.c_str(), status.c_str(),
           static_cast<long long>(w.value("unpushed", int64_t{0})), session.empty() ? "-" : session.c_str(),
           w.value("path", "").c_str(), w.value("managed", false) ? "" : "  (not ccmux's)");
  }
  for (auto& e : r["errors"]) std::cerr << "ccmux: " << e.value("repo", "") << ": " << e.value("message", "") << "\n";
  if (r["worktrees"].empty() && r["errors"].empty()) std::cout << "no worktrees\n";
  return r["errors"].empty() ? 0 : 1;
}

}  // namespace

void add_worktree_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto o = std::make_shared<Options>();
  // No action of its own here: `ccmux worktrees` alone lists (registered last, below, so that a
  // chosen subcommand wins).
  CLI::App* wt = c.app().add_subcommand("worktrees", "git worktrees made for sessions (new --worktree): ls | rm | prune");
  wt->add_option("--repo", o->repo, "a folder of one repository (default: every repository ccmux knows)");
  wt->add_flag("--json", o->json_out, "ls: print JSON");
  auto* ls = c.add(wt, "ls", "list worktrees with branch, uncommitted changes, unpushed commits, session using it",
                   [o, &ctx] { return list(ctx, *o); });
  ls->add_option("--repo", o->repo, "a folder of one repository (default: every repository ccmux knows)");
  ls->add_flag("--json", o->json_out, "print JSON");
  auto* rm = c.add(wt, "rm", "remove a worktree (refused while a session uses it; dirty or unpushed ones need --force)",
                   [o, &ctx] {
                     json p = repo_params(*o);
                     p.update({{"name", o->name}, {"force", o->force}});
                     json r = ctx.connect()->request("worktree.remove", p);
                     std::cout << "removed " << r.value("path", "") << " (its branch stays in " << r.value("repo", "")
                               << ")\n";
                     return 0;
                   });
  rm->add_option("name", o->name, "the worktree's NAME")->required();
  rm->add_option("--repo", o->repo, "a folder of its repository, when NAME is in several");
  rm->add_flag("--force", o->force, "remove even with uncommitted changes or unpushed commits");
  c.add(wt, "prune", "forget worktrees whose folder was deleted (git worktree prune)", [o, &ctx] {
     json r = ctx.connect()->request("worktree.prune", repo_params(*o));
     for (auto& l : r["pruned"]) std::cout << l.get<std::string>() << "\n";
     for (auto& p : r["forgotten"]) std::cout << "forgot " << p.get<std::string>() << "\n";
     if (r["pruned"].empty() && r["forgotten"].empty()) std::cout << "nothing to prune\n";
     return 0;
   })->add_option("--repo", o->repo, "a folder of one repository (default: every repository ccmux knows)");
  c.on(wt, [o, &ctx] { return list(ctx, *o); });
}

}  // namespace ccmux::cli
