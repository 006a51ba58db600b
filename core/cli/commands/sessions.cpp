// `ccmux new|ls|send|stop|resume|interrupt|mode|payload`: one request each about sessions.
// A session id "MACHINE/s-…" goes to MACHINE directly when hosts.yaml names it, else to the
// local daemon's fleet (Context::routed).
#include "all_hosts.h"
#include "commands.h"
#include "fleet_table.h"
#include "session_table.h"

#include <mbedtls/base64.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace ccmux::cli {

using nlohmann::json;

namespace {

// The whole payload of an event stored cut, in pieces: it can be bigger than any one message.
int print_payload(client::Connection& c, const std::string& session, uint64_t seq) {
  for (size_t off = 0;;) {
    json r = c.request("event.payload", {{"session", session}, {"seq", seq}, {"offset", off}, {"length", 4 << 20}});
    std::string b64 = r.value("data", ""), data(b64.size() * 3 / 4 + 3, '\0');
    size_t n = 0;
    if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(data.data()), data.size(), &n,
                              reinterpret_cast<const unsigned char*>(b64.data()), b64.size()) != 0)
      throw client::RequestFailed("bad_data", "ccmuxd sent a piece that is not base64");
    std::cout.write(data.data(), static_cast<std::streamsize>(n));
    off += n;
    if (n == 0 || off >= r.value("bytes", size_t{0})) break;
  }
  std::cout << std::flush;
  return 0;
}

// One request about one session, sent where its id says (see Context::routed).
json session_request(const Context& ctx, const std::string& session, const std::string& method, json params = json::object()) {
  std::string id = session;
  Context to = ctx.routed(id);
  params["session"] = id;
  return to.connect()->request(method, params);
}

// `ls --fleet`: every machine, then every session of the fleet (ids "MACHINE/s-…").
int list_fleet(const Context& ctx, bool json_out) {
  json r;
  try {
    r = ctx.connect()->request("fleet.sessions");
  } catch (const client::RequestFailed& e) {
    if (e.code != "unknown_method") throw;
    std::cerr << "ccmux: fleet mode is off: enable the fleet plugin (docs/fleet.md)\n";
    return 1;
  }
  if (json_out) {
    std::cout << r.dump(2) << "\n";
    return 0;
  }
  // Another machine's answers pass through the fleet: keep only what the table can show.
  auto list = [&r](const char* key) {
    json out = json::array();
    if (r.is_object() && r.contains(key) && r[key].is_array())
      for (auto& x : r[key])
        if (x.is_object() && (!x.contains("id") || x["id"].is_string())) out.push_back(x);
    return out;
  };
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  std::cout << machines_table(list("machines"), now_ms.count()) << "\n" << std::flush;
  print_sessions(list("sessions"));
  return 0;
}

}  // namespace

// --cwd, else this folder; with --host a folder there, so --cwd is required (a local path means
// nothing on the other machine). "" after saying so.
std::string session_cwd(const Context& ctx, const std::string& cwd) {
  if (!cwd.empty()) return cwd;
  if (!ctx.remote()) return std::filesystem::current_path().string();
  std::cerr << "ccmux: with --host, --cwd names the project folder on " << ctx.host->name
            << " (this machine's current folder means nothing there)\n";
  return "";
}

namespace {

const char* const kSessionArg = "s-…, or MACHINE/s-… (MACHINE of hosts.yaml: asked directly; else the local daemon's fleet)";

struct Options {
  std::string cwd, model, mode, prompt, session, worktree, branch, from, on_host;
  uint64_t seq = 0;
  bool json_out = false, all_hosts = false, fleet = false;
  double timeout_s = 5;
};

}  // namespace

void add_session_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto o = std::make_shared<Options>();

  auto* nw = c.add(nullptr, "new", "start a session (optionally with a first prompt); prints its id", [o, &ctx] {
    if (!o->on_host.empty() && o->cwd.empty()) {
      std::cerr << "ccmux: with new --host, --cwd names the project folder on that machine (or, with auto, on the "
                   "machine chosen)\n";
      return 1;
    }
    std::string cwd = session_cwd(ctx, o->cwd);
    if (cwd.empty()) return 1;
    json params = {{"cwd", cwd}, {"model", o->model}, {"permission_mode", o->mode}};
    if (!o->on_host.empty()) params["host"] = o->on_host;
    if (!o->prompt.empty()) params["prompt"] = o->prompt;
    if (!o->worktree.empty()) params.update({{"worktree", o->worktree}, {"branch", o->branch}, {"from", o->from}});
    json r = ctx.connect()->request("session.new", params);
    std::cout << r["id"].get<std::string>() << "\n";
    if (!r.value("worktree", "").empty())
      std::cerr << "in worktree " << r.value("worktree", "") << " (branch " << r.value("branch", "") << ")\n";
    return 0;
  });
  nw->add_option("--cwd", o->cwd, "project folder (default: current directory); with --worktree, any folder of the repository");
  nw->add_option("--host", o->on_host,
                 "fleet mode: start it on machine NAME of the fleet, or `auto` (the machine with that folder and the most "
                 "room); the id printed is NAME/s-…. Needs --cwd. Not the global `ccmux --host NAME new`, which connects "
                 "to a machine of hosts.yaml directly")
      ->type_name("NAME|auto");
  auto* wt = nw->add_option("--worktree", o->worktree,
                            "run in git worktree NAME of that repository (made when missing; reused when no live session uses it)");
  nw->add_option("--branch", o->branch, "with --worktree: branch to check out (local, else origin/B, else new; default ccmux/NAME)")
      ->needs(wt);
  nw->add_option("--from", o->from, "with --worktree: where a new branch starts (default HEAD)")->needs(wt);
  nw->add_option("--model", o->model, "claude model");
  nw->add_option("--mode", o->mode, "permission mode");
  nw->add_option("prompt", o->prompt, "first prompt");

  auto* ls = c.add(nullptr, "ls", "list sessions", [o, &ctx] {
    if (o->fleet && o->all_hosts) {
      std::cerr << "ccmux: ls --fleet asks the fleet through one daemon, ls --all-hosts asks hosts.yaml's machines "
                   "one by one: pick one\n";
      return 1;
    }
    if (o->fleet) return list_fleet(ctx, o->json_out);
    if (o->all_hosts) {
      if (ctx.remote()) {
        std::cerr << "ccmux: ls --all-hosts asks every machine of hosts.yaml; drop --host\n";
        return 1;
      }
      return list_all_hosts(ctx.socket_path, default_hosts_path(), o->json_out, o->timeout_s);
    }
    json r = ctx.connect()->request("session.list");
    if (o->json_out) std::cout << r["sessions"].dump(2) << "\n";
    else print_sessions(r["sessions"]);
    return 0;
  });
  ls->add_flag("--json", o->json_out, "print JSON (with --fleet: fleet.sessions' whole answer)");
  ls->add_flag("--fleet", o->fleet,
               "fleet mode (the fleet plugin): every machine (up/down, live/max, free memory, version) and every "
               "session of the fleet as MACHINE/s-…");
  ls->add_flag("--all-hosts", o->all_hosts,
               "every machine of ~/.config/ccmux/hosts.yaml and the local ccmuxd (when running), with a HOST column");
  ls->add_option("--timeout", o->timeout_s, "--all-hosts: seconds to wait for each machine (default 5)")
      ->check(CLI::Range(0.1, 600.0));

  auto* send = c.add(nullptr, "send", "queue a prompt for a session (resumes it if it ended)", [o, &ctx] {
    json r = session_request(ctx, o->session, "session.send", {{"prompt", o->prompt}});
    std::cout << "queued prompt " << r["prompt_id"] << " for " << o->session << "\n";
    return 0;
  });
  send->add_option("session", o->session, kSessionArg)->required();
  send->add_option("prompt", o->prompt)->required();

  auto* stop = c.add(nullptr, "stop", "stop a session's claude process (gracefully)", [o, &ctx] {
    session_request(ctx, o->session, "session.stop");
    return 0;
  });
  stop->add_option("session", o->session, kSessionArg)->required();
  auto* resume = c.add(nullptr, "resume", "start a parked, exited or failed session's claude again (same history)", [o, &ctx] {
    json r = session_request(ctx, o->session, "session.resume");
    std::cout << o->session << ": " << r.value("state", "")
              << (r.value("reason", "").empty() ? "" : " (" + r.value("reason", "") + ")") << "\n";
    return 0;
  });
  resume->add_option("session", o->session, kSessionArg)->required();
  auto* interrupt = c.add(nullptr, "interrupt", "interrupt the running turn", [o, &ctx] {
    session_request(ctx, o->session, "session.interrupt");
    return 0;
  });
  interrupt->add_option("session", o->session, kSessionArg)->required();
  auto* mode = c.add(nullptr, "mode", "change the permission mode: default|acceptEdits|plan|bypassPermissions", [o, &ctx] {
    json r = session_request(ctx, o->session, "session.mode", {{"mode", o->mode}});
    std::cout << o->session << ": permission mode " << r.value("mode", o->mode) << "\n";
    return 0;
  });
  mode->add_option("session", o->session, kSessionArg)->required();
  mode->add_option("mode", o->mode)->required();

  auto* payload = c.add(nullptr, "payload", "print the whole payload of an event stored cut (over claude.max_event_bytes)",
                        [o, &ctx] {
                          std::string id = o->session;
                          Context to = ctx.routed(id);
                          return print_payload(*to.connect(), id, o->seq);
                        });
  payload->add_option("session", o->session, kSessionArg)->required();
  payload->add_option("seq", o->seq)->required();
}

}  // namespace ccmux::cli
