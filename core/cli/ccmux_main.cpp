// ccmux: the command-line client of ccmuxd.
//
// Exit codes: 0 success; 1 the turn ended in error (is_error), was stopped by a deny,
// or the daemon refused the request; 2 the daemon is unreachable or speaks another
// protocol; 3 the session failed or exited before its turn finished; parser usage
// errors keep CLI11's codes (non-zero).
#include "certs.h"
#include "client.h"
#include "doctor.h"
#include "hook_command.h"
#include "learned_commands.h"
#include "core.h"
#include "json_bounds.h"
#include "policy_engine.h"
#include "policy_worker.h"
#include "paths.h"
#include "render.h"
#include "service.h"

#include <CLI/CLI.hpp>
#include <mbedtls/base64.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <poll.h>
#include <thread>
#include <unistd.h>

using namespace ccmux;
using nlohmann::json;

namespace {

std::string socket_path;

json prompt_value(const std::string& text) { return json(text); }

std::string format_time(int64_t ms) {
  time_t s = static_cast<time_t>(ms / 1000);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", localtime(&s));
  return buf;
}

void print_sessions(const json& sessions) {
  printf("%-12s %-17s %-8s %-6s %-7s %-9s %s\n", "ID", "STATE", "COST", "TURNS", "MEM", "APPROVAL", "CWD");
  for (auto& s : sessions) {
    char cost[32], mem[32];
    snprintf(cost, sizeof cost, "$%.4f", s.value("cost_usd", 0.0));
    int64_t rss = s.value("rss_bytes", int64_t{0});
    if (rss > 0) snprintf(mem, sizeof mem, "%lldM", static_cast<long long>(rss >> 20));
    else snprintf(mem, sizeof mem, "-");
    std::string state = s.value("state", "");
    if (int64_t pos = s.value("slot_queue_position", int64_t{0}); pos > 0) state += " #" + std::to_string(pos);
    printf("%-12s %-17s %-8s %-6lld %-7s %-9s %s\n", s.value("id", "").c_str(), state.c_str(), cost,
           static_cast<long long>(s.value("turns", 0)), mem, s.value("pending_approvals", false) ? "pending" : "-",
           s.value("cwd", "").c_str());
  }
}

std::string megabytes(int64_t bytes) {
  char buf[32];
  snprintf(buf, sizeof buf, bytes >= (10LL << 30) ? "%.0f GB" : bytes >= (1LL << 30) ? "%.1f GB" : "%.1f MB",
           bytes >= (1LL << 30) ? static_cast<double>(bytes) / (1 << 30) : static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// `ccmux status`: the daemon, its sessions and what they cost, one line per part.
void print_status(const json& st) {
  int64_t up = st.value("uptime_s", int64_t{0});
  printf("ccmuxd     %s (protocol %d), pid %lld, up %lldh %02lldm, config %s\n", st.value("version", "").c_str(),
         st.value("protocol", 0), static_cast<long long>(st.value("pid", 0)), static_cast<long long>(up / 3600),
         static_cast<long long>(up / 60 % 60), st.value("config", "").c_str());
  int64_t total = 0;
  std::string by_state;
  const json sessions = st.value("sessions", json::object());  // items() must not outlive it
  for (auto& [state, n] : sessions.items()) {
    total += n.get<int64_t>();
    by_state += (by_state.empty() ? ": " : ", ") + std::to_string(n.get<int64_t>()) + " " + state;
  }
  printf("sessions   %lld%s\n", static_cast<long long>(total), by_state.c_str());
  json eco = st.value("economy", json::object());
  json warm = eco.value("warm_pool", json::object());
  printf("claude     %lld live of max_live %lld (%s), %lld waiting for a slot, warm pool %zu/%lld\n",
         static_cast<long long>(st.value("live_processes", 0)), static_cast<long long>(eco.value("max_live", 0)),
         megabytes(st.value("claude_rss_bytes", int64_t{0})).c_str(), static_cast<long long>(eco.value("waiting_for_slot", 0)),
         warm.value("processes", json::array()).size(), static_cast<long long>(warm.value("capacity", 0)));
  printf("daemon     %s resident, %lld clients\n", megabytes(st.value("daemon_rss_bytes", int64_t{0})).c_str(),
         static_cast<long long>(st.value("clients", 0)));
  json ap = st.value("approvals", json::object());
  printf("approvals  %lld pending; %lld allowed, %lld denied, %lld cancelled\n",
         static_cast<long long>(st.value("pending_approvals", 0)), static_cast<long long>(ap.value("allow", 0)),
         static_cast<long long>(ap.value("deny", 0)), static_cast<long long>(ap.value("cancelled", 0)));
  printf("usage      $%.4f, %lld tokens in / %lld out, %lld turns, %lld events\n", st.value("cost_usd", 0.0),
         static_cast<long long>(st.value("input_tokens", 0)), static_cast<long long>(st.value("output_tokens", 0)),
         static_cast<long long>(st.value("turns", 0)), static_cast<long long>(st.value("events", 0)));
}

const char* kToolPrompt = "  [a]llow, [d]eny, [s]top (deny and end the turn), empty = leave it for another client: ";

// The answer to a tool approval from one line typed at the terminal; null = leave it.
json tool_answer(const json& a, const std::string& line) {
  if (line.empty()) return nullptr;
  if (line[0] == 'a' || line[0] == 'y') return {{"id", a["id"]}, {"decision", "allow"}, {"by", "terminal"}};
  json deny = {{"id", a["id"]}, {"decision", "deny"}, {"by", "terminal"}, {"reason", "Denied at the terminal"}};
  if (line[0] == 's') deny["interrupt"] = true;
  return deny;
}

// Asks each question of an AskUserQuestion; returns the answer params, or null to leave it.
json question_answer(const json& a) {
  json answers = json::object();
  for (auto& q : a.value("questions", json::array())) {
    auto opts = q.value("options", json::array());
    std::cerr << "  answer for \"" << q.value("question", "") << "\" (number, or text; empty = leave): " << std::flush;
    std::string line;
    if (!std::getline(std::cin, line) || line.empty()) return nullptr;
    std::string label = line;
    try {
      size_t i = std::stoul(line);
      if (i >= 1 && i <= opts.size()) label = opts[i - 1].value("label", line);
    } catch (...) {
    }
    answers[q.value("question", "")] = label;
  }
  return {{"id", a["id"]}, {"decision", "allow"}, {"answers", answers}};
}

// A replayed approval_requested may have been answered long ago: ask only for live ones.
bool still_pending(Client& c, const std::string& id) {
  json pending = c.request("approvals.list")["approvals"];
  for (auto& a : pending)
    if (a.value("id", "") == id) return true;
  return false;
}

enum class Until { result, session_end, caught_up };

// Streams a session's events. Returns the process exit code. When interactive, a tool
// approval is asked at the terminal while the stream goes on: whoever answers first wins,
// and an answer from another client ends the question here.
int stream_once(Client& c, const std::string& session, uint64_t& from, bool raw_json, Until until, bool& interactive,
                Renderer& r) {
  json sub = c.request("subscribe", {{"session", session}, {"from_seq", from}});
  uint64_t head = sub.value("head", uint64_t{0});
  if (until == Until::caught_up && head < from) return 0;
  json asking;  // the tool approval waiting for a key at the terminal
  auto send_answer = [&](const json& answer) {
    if (answer.is_null()) return;
    json res = c.request("approval.answer", answer);
    if (res.value("status", "") == "already_resolved") r.line("  (" + res.value("message", "") + ")");
  };
  for (;;) {
    if (!asking.is_null() && !c.has_buffered()) {
      pollfd fds[2] = {{c.fd(), POLLIN, 0}, {0, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents & (POLLIN | POLLHUP)) {
        std::string line;
        if (!std::getline(std::cin, line)) interactive = false;  // stdin closed: leave it to others
        json a = asking;
        asking = nullptr;
        send_answer(tool_answer(a, line));
        continue;
      }
    }
    auto line = c.next_raw(-1);
    json msg = json::parse(*line, nullptr, false);
    if (!msg.is_object() || msg.value("type", "") != "event" || msg.value("session", "") != session) continue;
    from = msg.value("seq", from) + 1;  // where a reconnect resumes
    std::string kind = msg.value("kind", "");
    const json& p = msg["payload"];
    if (kind == "approval_resolved" && !asking.is_null() && p.value("id", "") == asking.value("id", "")) {
      asking = nullptr;  // answered elsewhere (the next line says by whom)
      std::cerr << "\n";
    }
    if (raw_json) std::cout << *line << "\n" << std::flush;
    else r.event(msg);
    if (until == Until::caught_up && msg.value("seq", uint64_t{0}) >= head) return 0;
    if (kind == "approval_requested" && interactive && asking.is_null() && still_pending(c, p.value("id", ""))) {
      if (p.value("kind", "") == "question") send_answer(question_answer(p));
      else {
        asking = p;
        std::cerr << kToolPrompt << std::flush;
      }
    }
    if (until == Until::result && kind == "result") return p.value("is_error", false) ? 1 : 0;
    // A crash ends the turn being waited for (claude restarts without it); parked is exited.
    if (until == Until::result && (kind == "session_failed" || kind == "session_exited" || kind == "session_crashed" ||
                                   kind == "session_parked"))
      return 3;
    if (until == Until::session_end && (kind == "session_failed" || kind == "session_exited" || kind == "session_parked"))
      return kind == "session_failed" ? 3 : 0;
  }
}

// stream_once, reconnecting when the daemon goes away (restart, upgrade): the stream
// resumes at the next seq, so nothing is missed and nothing is shown twice.
int stream(std::unique_ptr<Client> c, const std::string& session, uint64_t from, bool raw_json, Until until,
           bool interactive) {
  Renderer r(std::cout);
  for (;;) {
    try {
      return stream_once(*c, session, from, raw_json, until, interactive, r);
    } catch (const Unreachable& e) {
      if (until == Until::caught_up) throw;
      r.line("· connection to ccmuxd lost; reconnecting (resumes at seq " + std::to_string(from) + ")");
    }
    c.reset();
    for (int attempt = 0; !c; ++attempt) {
      try {
        c = std::make_unique<Client>(socket_path);
      } catch (const Unreachable&) {
        if (attempt >= 600) throw;  // ten minutes
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  }
}

int answer(const std::string& id, const std::string& decision, const std::string& reason, const json& answers,
           bool interrupt) {
  Client c(socket_path);
  json params = {{"id", id}, {"decision", decision}, {"by", "cli"}};
  if (!reason.empty()) params["reason"] = reason;
  if (!answers.is_null()) params["answers"] = answers;
  if (interrupt) params["interrupt"] = true;
  json res = c.request("approval.answer", params);
  if (res.value("status", "") == "already_resolved") {
    std::cout << id << ": " << res.value("message", "already resolved") << "\n";
    return 0;
  }
  std::cout << id << ": " << decision << "\n";
  return 0;
}

int certs_init(CertRequest req) {
  if (req.dir.empty()) req.dir = std::filesystem::path(default_config_path()).parent_path().string() + "/tls";
  if (req.dns_names.empty()) {
    req.dns_names = {"localhost"};
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0 && std::string(host) != "localhost") req.dns_names.push_back(host);
  }
  if (req.ips.empty()) req.ips = {"127.0.0.1", "::1"};
  try {
    make_local_ca_and_server_cert(req);
  } catch (const CertError& e) {
    std::cerr << "ccmux certs init: " << e.what() << "\n";
    return 1;
  }
  std::cout << "wrote " << req.dir << "/{ca.crt, ca.key, server.crt, server.key}\n"
            << "install ca.crt on your phone/browser to trust the server certificate\n";
  return 0;
}

int policy_test(const std::string& file, const std::string& tool, const std::string& input, const std::string& cwd) {
  EventLoop loop;
  PolicyEngine engine(loop, PolicyEngine::Options{});  // the same worker process ccmuxd uses
  auto errors = engine.load_sync({file});
  if (!errors.empty()) {
    for (auto& e : errors) std::cerr << e << "\n";
    return 1;
  }
  json in = parse_json_bounded(input);
  if (in.is_discarded() || !in.is_object()) {
    std::cerr << "--input must be a JSON object\n";
    return 1;
  }
  PolicyRequest req{tool, in, "s-test", cwd.empty() ? std::filesystem::current_path().string() : cwd, "", json::array()};
  auto d = engine.evaluate_sync(req);
  std::string decision = d.verdict.decision.empty() ? "none (ask a human)" : d.verdict.decision;
  std::cout << "decision: " << decision << "\n";
  if (!d.verdict.reason.empty()) std::cout << "reason: " << d.verdict.reason << "\n";
  if (!d.verdict.updated_input.is_null()) std::cout << "updated_input: " << d.verdict.updated_input.dump() << "\n";
  if (!d.verdict.error.empty()) {
    std::cout << "error: " << d.verdict.error << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (int rc = maybe_run_policy_worker(argc, argv); rc >= 0) return rc;
  // `ccmux hook` runs on every tool call of a hand-started claude: skip building the whole
  // command line parser (`ccmux hook [--wait S]` is all it takes).
  if (argc >= 2 && std::string_view(argv[1]) == "hook" && (argc == 2 || (argc == 4 && std::string_view(argv[2]) == "--wait"))) {
    double wait = argc == 4 ? std::atof(argv[3]) : 0;
    return cli::hook_command(find_daemon_socket(), wait);
  }
  CLI::App app{"ccmux: drive Claude Code sessions hosted by ccmuxd"};
  app.require_subcommand(1);
  app.add_option("--socket", socket_path, "ccmuxd socket (default: $CCMUX_DAEMON_SOCKET, then the XDG/system path)");
  bool json_out = false;

  std::string cwd, model, mode, prompt, session, reason, tool, input, file, label, question;
  uint64_t from = 1;
  bool no_follow = false, all = false, stop_turn = false;

  auto* run = app.add_subcommand("run", "start a session with a prompt, stream it, answer approvals here");
  run->add_option("--cwd", cwd, "project folder (default: current directory)");
  run->add_option("--model", model, "claude model");
  run->add_option("--mode", mode, "permission mode");
  run->add_flag("--json", json_out, "print raw events as NDJSON");
  run->add_option("prompt", prompt, "the prompt")->required();

  auto* nw = app.add_subcommand("new", "start a session (optionally with a first prompt); prints its id");
  nw->add_option("--cwd", cwd, "project folder (default: current directory)");
  nw->add_option("--model", model, "claude model");
  nw->add_option("--mode", mode, "permission mode");
  nw->add_option("prompt", prompt, "first prompt");

  auto* ls = app.add_subcommand("ls", "list sessions");
  ls->add_flag("--json", json_out, "print JSON");

  auto* attach = app.add_subcommand("attach", "stream a session's events (stored, then live)");
  attach->add_option("session", session)->required();
  attach->add_option("--from", from, "first seq to show (default 1)");
  attach->add_flag("--json", json_out, "print raw events as NDJSON");
  attach->add_flag("--no-follow", no_follow, "stop after the stored events");

  auto* send = app.add_subcommand("send", "queue a prompt for a session (resumes it if it ended)");
  send->add_option("session", session)->required();
  send->add_option("prompt", prompt)->required();

  auto* stop = app.add_subcommand("stop", "stop a session's claude process (gracefully)");
  stop->add_option("session", session)->required();
  auto* resume = app.add_subcommand("resume", "start a parked, exited or failed session's claude again (same history)");
  resume->add_option("session", session)->required();
  auto* interrupt = app.add_subcommand("interrupt", "interrupt the running turn");
  interrupt->add_option("session", session)->required();
  auto* modec = app.add_subcommand("mode", "change the permission mode: default|acceptEdits|plan|bypassPermissions");
  modec->add_option("session", session)->required();
  modec->add_option("mode", mode)->required();

  uint64_t seq = 0;
  auto* payloadc = app.add_subcommand("payload", "print the whole payload of an event stored cut (over claude.max_event_bytes)");
  payloadc->add_option("session", session)->required();
  payloadc->add_option("seq", seq)->required();

  auto* approvals = app.add_subcommand("approvals", "list pending approvals");
  approvals->add_flag("--all", all, "include resolved ones (audit)");
  approvals->add_flag("--json", json_out, "print JSON");
  bool learned = false;
  approvals->add_flag("--learned", learned, "learned patterns of the approval plugin, with their counts");
  auto* autonomy = app.add_subcommand("autonomy", "show or set the approval plugin's autonomy level (0-3)");
  int autonomy_level = -1;
  autonomy->add_option("level", autonomy_level, "0 observe, 1 suggest, 2 auto-approve read-only and learned, 3 trust")
      ->check(CLI::Range(0, 3));
  auto* hook = app.add_subcommand("hook", "run by Claude Code as a hook: reads its JSON on stdin, asks ccmuxd, prints the decision");
  double hook_wait = 0;
  hook->add_option("--wait", hook_wait, "PermissionRequest: seconds to wait for an answer from another client (0: none)");
  auto* hooks = app.add_subcommand("hooks", "Claude Code hooks for sessions started by hand");
  hooks->require_subcommand(1);
  std::string hooks_project;
  double hooks_wait = 30;
  auto* hinstall = hooks->add_subcommand("install", "add ccmux's hooks to ~/.claude/settings.json (idempotent, keeps a backup)");
  auto* huninstall = hooks->add_subcommand("uninstall", "remove only ccmux's hooks (restores the file when nothing else changed)");
  auto* hstatus = hooks->add_subcommand("status", "which hooks are installed, and whether ccmuxd is up");
  for (auto* sc : {hinstall, huninstall, hstatus})
    sc->add_option("--project", hooks_project, "a project folder: edit its .claude/settings.json instead");
  hinstall->add_option("--wait", hooks_wait, "seconds a permission prompt waits for the phone/Telegram (default 30)");
  auto* forget = app.add_subcommand("forget", "forget a learned approval pattern");
  std::string pattern;
  forget->add_option("pattern", pattern, "as `ccmux approvals --learned` prints it, e.g. 'Bash:git status'")->required();
  auto* approve = app.add_subcommand("approve", "allow a pending tool call");
  approve->add_option("id", session)->required();
  approve->add_option("--reason", reason);
  auto* deny = app.add_subcommand("deny", "deny a pending tool call");
  deny->add_option("id", session)->required();
  deny->add_option("--reason", reason);
  deny->add_flag("--stop", stop_turn, "also end the turn");
  auto* answ = app.add_subcommand("answer", "answer a question (AskUserQuestion)");
  answ->add_option("id", session)->required();
  answ->add_option("label", label, "the chosen option's label (or free text)")->required();
  answ->add_option("--question", question, "which question (default: the first)");

  auto* policy = app.add_subcommand("policy", "policy tools");
  policy->require_subcommand(1);
  auto* ptest = policy->add_subcommand("test", "dry-run a Lua policy script");
  ptest->add_option("file", file)->required();
  ptest->add_option("--tool", tool)->required();
  ptest->add_option("--input", input)->required();
  ptest->add_option("--cwd", cwd, "session cwd (default: current directory)");

  auto* token = app.add_subcommand("token", "client tokens for remote transports");
  token->require_subcommand(1);
  std::string token_name;
  auto* tcreate = token->add_subcommand("create", "make a token (printed once; only its SHA-256 is stored)");
  tcreate->add_option("name", token_name)->required();
  auto* tlist = token->add_subcommand("list", "list token names and when they were last used");
  auto* trevoke = token->add_subcommand("revoke", "revoke a token (transports close its connections)");
  trevoke->add_option("name", token_name)->required();

  auto* certs = app.add_subcommand("certs", "TLS certificates for remote transports");
  certs->require_subcommand(1);
  CertRequest cert_req;
  auto* cinit = certs->add_subcommand("init", "make a local CA and a server certificate signed by it (mbedTLS)");
  cinit->add_option("--dir", cert_req.dir, "output folder (default: tls/ beside the config file)");
  cinit->add_option("--host", cert_req.dns_names, "DNS name for the certificate (repeatable; default: localhost and this host)");
  cinit->add_option("--ip", cert_req.ips, "IP address for the certificate (repeatable; default: 127.0.0.1 and ::1)");
  cinit->add_flag("--force", cert_req.force, "replace existing files");

  auto* plugins = app.add_subcommand("plugins", "list loaded plugins");
  auto* status = app.add_subcommand("status", "daemon status and totals");
  status->add_flag("--json", json_out, "print the status object as JSON");

  cli::ServiceCommand service(app);
  auto* doctor = app.add_subcommand("doctor", "check claude, ccmuxd, config, plugins, certificates, tokens, hooks, "
                                     "service, store and memory; each problem with its fix (exit 1 when there is one)");
  std::string doctor_config;
  doctor->add_option("--config", doctor_config, "config file (default: the one ccmuxd reads)");
  doctor->add_flag("--json", json_out, "print the findings as JSON");

  CLI11_PARSE(app, argc, argv);
  if (int rc = service.run(); rc >= 0) return rc;
  if (socket_path.empty()) socket_path = find_daemon_socket();
  if (cwd.empty()) cwd = std::filesystem::current_path().string();

  try {
    if (doctor->parsed()) return cli::doctor_command(doctor_config, socket_path, json_out);
    if (ptest->parsed()) return policy_test(file, tool, input, cwd);
    if (cinit->parsed()) return certs_init(cert_req);
    if (run->parsed()) {
      auto c = std::make_unique<Client>(socket_path);
      json s = c->request("session.new", {{"cwd", cwd}, {"prompt", prompt_value(prompt)}, {"model", model},
                                           {"permission_mode", mode}});
      std::string id = s["id"];
      if (!json_out) std::cerr << "session " << id << " in " << s.value("cwd", "") << "\n";
      return stream(std::move(c), id, 1, json_out, Until::result, isatty(0) && !json_out);
    }
    if (nw->parsed()) {
      Client c(socket_path);
      json params = {{"cwd", cwd}, {"model", model}, {"permission_mode", mode}};
      if (!prompt.empty()) params["prompt"] = prompt;
      std::cout << c.request("session.new", params)["id"].get<std::string>() << "\n";
      return 0;
    }
    if (ls->parsed()) {
      Client c(socket_path);
      json r = c.request("session.list");
      if (json_out) std::cout << r["sessions"].dump(2) << "\n";
      else print_sessions(r["sessions"]);
      return 0;
    }
    if (attach->parsed()) {
      // Following at a terminal, attach answers approvals like run does.
      return stream(std::make_unique<Client>(socket_path), session, from, json_out,
                    no_follow ? Until::caught_up : Until::session_end, isatty(0) && !json_out && !no_follow);
    }
    if (send->parsed()) {
      Client c(socket_path);
      json r = c.request("session.send", {{"session", session}, {"prompt", prompt}});
      std::cout << "queued prompt " << r["prompt_id"] << " for " << session << "\n";
      return 0;
    }
    if (stop->parsed() || interrupt->parsed()) {
      Client c(socket_path);
      c.request(stop->parsed() ? "session.stop" : "session.interrupt", {{"session", session}});
      return 0;
    }
    if (resume->parsed()) {
      Client c(socket_path);
      json r = c.request("session.resume", {{"session", session}});
      std::cout << session << ": " << r.value("state", "") << (r.value("reason", "").empty() ? "" : " (" + r.value("reason", "") + ")")
                << "\n";
      return 0;
    }
    if (modec->parsed()) {
      Client c(socket_path);
      json r = c.request("session.mode", {{"session", session}, {"mode", mode}});
      std::cout << session << ": permission mode " << r.value("mode", mode) << "\n";
      return 0;
    }
    if (hook->parsed()) return cli::hook_command(socket_path, hook_wait);
    if (hooks->parsed()) {
      cli::HooksOptions ho;
      const char* home = std::getenv("HOME");
      ho.settings_path = hooks_project.empty() ? std::string(home ? home : "") + "/.claude/settings.json"
                                               : std::filesystem::absolute(hooks_project).string() + "/.claude/settings.json";
      ho.ccmux_path = std::filesystem::canonical("/proc/self/exe").string();
      std::string lean = std::filesystem::path(ho.ccmux_path).parent_path().string() + "/ccmux-hook";
      if (access(lean.c_str(), X_OK) == 0) ho.hook_path = lean;
      ho.wait_s = hooks_wait;
      try {
        if (hinstall->parsed()) return cli::hooks_install(ho);
        if (huninstall->parsed()) return cli::hooks_uninstall(ho);
        return cli::hooks_status(ho, socket_path);
      } catch (const std::exception& e) {
        std::cerr << "ccmux hooks: " << e.what() << "\n";
        return 1;
      }
    }
    if (approvals->parsed() && learned) return cli::learned_command(socket_path, json_out);
    if (autonomy->parsed())
      return cli::autonomy_command(socket_path, autonomy_level >= 0 ? std::optional<int>(autonomy_level) : std::nullopt);
    if (forget->parsed()) return cli::forget_command(socket_path, pattern);
    if (payloadc->parsed()) {
      Client c(socket_path);
      for (size_t off = 0;;) {  // in pieces: the whole can be bigger than any one message
        json r = c.request("event.payload", {{"session", session}, {"seq", seq}, {"offset", off}, {"length", 4 << 20}});
        std::string b64 = r.value("data", ""), data(b64.size() * 3 / 4 + 3, '\0');
        size_t n = 0;
        if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(data.data()), data.size(), &n,
                                  reinterpret_cast<const unsigned char*>(b64.data()), b64.size()) != 0)
          throw RequestFailed("bad_data", "ccmuxd sent a piece that is not base64");
        std::cout.write(data.data(), static_cast<std::streamsize>(n));
        off += n;
        if (n == 0 || off >= r.value("bytes", size_t{0})) break;
      }
      std::cout << std::flush;
      return 0;
    }
    if (approvals->parsed()) {
      Client c(socket_path);
      json r = c.request("approvals.list", {{"all", all}});
      if (json_out) {
        std::cout << r["approvals"].dump(2) << "\n";
      } else {
        if (r["approvals"].empty()) std::cout << "no " << (all ? "" : "pending ") << "approvals\n";
        for (auto& a : r["approvals"]) {
          std::cout << Renderer::approval_line(a);
          if (a.value("state", "") == "resolved") std::cout << "  -> " << a.value("decision", "") << " by " << a.value("decided_by", "");
          std::cout << "\n";
        }
      }
      return 0;
    }
    if (approve->parsed()) return answer(session, "allow", reason, nullptr, false);
    if (deny->parsed()) return answer(session, "deny", reason, nullptr, stop_turn);
    if (answ->parsed()) {
      Client c(socket_path);
      std::string q = question;
      if (q.empty()) {
        json pending = c.request("approvals.list")["approvals"];
        for (auto& a : pending)
          if (a.value("id", "") == session && !a.value("questions", json::array()).empty())
            q = a["questions"][0].value("question", "");
      }
      if (q.empty()) {
        std::cerr << "no pending question " << session << " (use --question TEXT)\n";
        return 1;
      }
      return answer(session, "allow", "", json{{q, label}}, false);
    }
    if (tcreate->parsed()) {
      Client c(socket_path);
      json r = c.request("token.create", {{"name", token_name}});
      std::cout << r["token"].get<std::string>() << "\n";
      std::cerr << "token '" << token_name << "' created; it is shown only now: store it where you need it\n";
      return 0;
    }
    if (tlist->parsed()) {
      Client c(socket_path);
      json r = c.request("token.list");
      if (r["tokens"].empty()) std::cout << "no tokens\n";
      for (auto& t : r["tokens"]) {
        int64_t used = t.value("last_used_ms", int64_t{0});
        std::cout << t.value("name", "") << "\tcreated " << format_time(t.value("created_ms", int64_t{0}))
                  << "\tlast used " << (used ? format_time(used) : "never") << "\n";
      }
      return 0;
    }
    if (trevoke->parsed()) {
      Client c(socket_path);
      json r = c.request("token.revoke", {{"name", token_name}});
      if (!r.value("revoked", false)) {
        std::cerr << "no token named '" << token_name << "'\n";
        return 1;
      }
      std::cout << "revoked " << token_name << "\n";
      return 0;
    }
    if (plugins->parsed()) {
      Client c(socket_path);
      json list = c.request("plugins.list")["plugins"];
      for (auto& p : list)
        std::cout << p.value("name", "") << "\t" << p.value("state", "") << "\t" << p.value("version", "") << "\t"
                  << p.value("error", p.value("path", "")) << "\n";
      return 0;
    }
    if (status->parsed()) {
      Client c(socket_path);
      json st = c.request("status");
      if (json_out) std::cout << st.dump(2) << "\n";
      else print_status(st);
      return 0;
    }
  } catch (const Unreachable& e) {
    std::cerr << "ccmux: " << e.what() << "\n";
    return 2;
  } catch (const RequestFailed& e) {
    std::cerr << "ccmux: " << e.code << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
