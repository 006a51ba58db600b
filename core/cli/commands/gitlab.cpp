// `ccmux gitlab mrs|pipelines|issues PROJECT`: the gitlab plugin's listings (its protocol
// methods gitlab.mrs / gitlab.pipelines / gitlab.issues) as a table. The plugin answers
// from a cache a worker of its own fills (the daemon's loop never waits on GitLab), so the
// first answer may be {"status":"pending"}: asked again after its retry_after_ms.
#include "commands.h"
#include "render.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

namespace ccmux::cli {

using nlohmann::json;

namespace {

struct Options {
  std::string project;
  bool json_out = false;
  int wait_s = 60;
};

json ask(client::Connection& c, const std::string& method, const std::string& project, int wait_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  for (;;) {
    json r;
    try {
      r = c.request(method, {{"project", project}});
    } catch (const client::RequestFailed& e) {
      if (e.code == "unknown_method")
        throw client::RequestFailed("plugin_not_loaded",
                                    "the gitlab plugin is not loaded on this daemon (add it under plugins: in the "
                                    "config; its keys are in plugins/gitlab/README.md)");
      throw;
    }
    if (!r.is_object() || r.value("status", "") != "pending") return r;
    if (std::chrono::steady_clock::now() >= deadline)
      throw client::RequestFailed("timeout", "GitLab did not answer within " + std::to_string(wait_s) + " s");
    int ms = r.contains("retry_after_ms") && r["retry_after_ms"].is_number_integer() ? r["retry_after_ms"].get<int>() : 200;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(ms, 50, 2000)));
  }
}

std::string text(const json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string pad(std::string s, size_t width) {
  s = one_line(s, width);
  return s.size() < width ? s + std::string(width - s.size(), ' ') : s;
}

// One line per row; `kind` names the list in the plugin's answer.
int render(const json& r, const std::string& kind) {
  const json empty = json::array();
  const json& rows = r.contains(kind) && r[kind].is_array() ? r[kind] : empty;
  std::string project = text(r, "project");
  if (rows.empty()) {
    std::cout << "no " << (kind == "mrs" ? "open merge requests" : kind == "issues" ? "open issues" : "pipelines") << " in "
              << project << "\n";
    return 0;
  }
  for (const json& row : rows) {
    if (!row.is_object()) continue;
    if (kind == "mrs")
      std::cout << pad("!" + text(row, "iid"), 7) << pad(text(row, "title"), 50) << "  "
                << pad(text(row, "source_branch") + " -> " + text(row, "target_branch"), 34) << "  @" << text(row, "author")
                << "\n";
    else if (kind == "pipelines")
      std::cout << pad("#" + text(row, "id"), 10) << pad(text(row, "status"), 10) << pad(text(row, "ref"), 30) << "  "
                << text(row, "sha").substr(0, 8) << "  " << text(row, "created_at") << "\n";
    else
      std::cout << pad("#" + text(row, "iid"), 7) << pad(text(row, "title"), 60) << "  @" << text(row, "author") << "\n";
  }
  return 0;
}

}  // namespace

void add_gitlab_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto o = std::make_shared<Options>();
  CLI::App* group = c.group("gitlab", "the gitlab plugin's view of a watched project: open MRs, pipelines, open issues");
  struct Kind {
    const char* name;
    const char* help;
  };
  for (Kind k : {Kind{"mrs", "open merge requests of PROJECT (id or path, e.g. group/app)"},
                 Kind{"pipelines", "recent pipelines of PROJECT, newest first"},
                 Kind{"issues", "open issues of PROJECT"}}) {
    std::string kind = k.name;
    auto* sc = c.add(group, kind, k.help, [o, &ctx, kind] {
      auto conn = ctx.connect();
      json r = ask(*conn, "gitlab." + kind, o->project, o->wait_s);
      if (o->json_out) {
        std::cout << r.dump(2) << "\n";
        return 0;
      }
      return render(r, kind);
    });
    sc->add_option("project", o->project, "a project the gitlab plugin watches (id or path)")->required();
    sc->add_flag("--json", o->json_out, "print the plugin's answer as JSON");
    sc->add_option("--wait", o->wait_s, "seconds to wait for GitLab (default 60)")->check(CLI::Range(1, 600));
  }
}

}  // namespace ccmux::cli
