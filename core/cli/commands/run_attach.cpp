// `ccmux run` and `ccmux attach`: a session's events as text (or NDJSON), with tool approvals
// asked at the terminal. The stream is a client::Subscription: when ccmuxd restarts it
// reconnects and resumes at the next seq, so nothing is missed and nothing shows twice.
#include "address.h"
#include "commands.h"
#include "render.h"

#include <ccmux/client/subscription.h>

#include <iostream>
#include <poll.h>
#include <unistd.h>

namespace ccmux::cli {

using nlohmann::json;

namespace {

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

enum class Until { result, session_end, caught_up };

// Streams a session's events; returns the process exit code. When interactive, a tool
// approval is asked at the terminal while the stream goes on: whoever answers first wins,
// and an answer from another client ends the question here. `machine`: the session was
// addressed "MACHINE/s-…" and reached directly; the text shows ids with that prefix
// (--json stays the machine's events byte for byte).
int stream(const Context& ctx, std::unique_ptr<client::Connection> first, const std::string& session, uint64_t from,
           bool raw_json, Until until, bool interactive, const std::string& machine = "") {
  Renderer r(std::cout);
  client::SubscriptionOptions so;
  so.session = session;
  so.from_seq = from;
  so.reconnect = until != Until::caught_up;  // --no-follow shows what is stored, once
  client::Subscription sub([&ctx] { return ctx.connect(); }, std::move(first), so);
  json asking;  // the tool approval waiting for a key at the terminal
  sub.on_lost([&](uint64_t resume_at) {
    asking = nullptr;  // asked on the old connection: left to other clients
    std::string notice = "· connection to ccmuxd lost; reconnecting (resumes at seq " + std::to_string(resume_at) + ")";
    // --json: stdout is one JSON event per line for a program; the notice is for the person.
    if (raw_json) std::cerr << notice << std::endl;
    else r.line(notice);
  });
  auto send_answer = [&](const json& answer) {
    if (answer.is_null()) return;
    auto res = sub.request("approval.answer", answer);
    if (res && res->value("status", "") == "already_resolved") r.line("  (" + res->value("message", "") + ")");
  };
  // A replayed approval_requested may have been answered long ago: ask only for live ones.
  auto still_pending = [&](const std::string& id) {
    auto pending = sub.request("approvals.list");
    if (pending)
      for (auto& a : (*pending)["approvals"])
        if (a.value("id", "") == id) return true;
    return false;
  };

  if (uint64_t head = sub.open(); until == Until::caught_up && head < from) return 0;
  for (;;) {
    std::optional<client::Event> ev;
    if (!asking.is_null() && !sub.connection().has_buffered()) {
      pollfd fds[2] = {{sub.connection().fd(), POLLIN, 0}, {0, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents & (POLLIN | POLLHUP)) {
        std::string line;
        if (!std::getline(std::cin, line)) interactive = false;  // stdin closed: leave it to others
        json a = asking;
        asking = nullptr;
        send_answer(tool_answer(a, line));
        continue;
      }
      ev = sub.next(client::Clock::now());  // what arrived; back to poll() when it is not a whole event
      if (!ev) continue;
    } else {
      ev = sub.next();
    }
    std::string kind = ev->kind();
    const json& p = ev->payload();
    if (kind == "approval_resolved" && !asking.is_null() && p.value("id", "") == asking.value("id", "")) {
      asking = nullptr;  // answered elsewhere (the next line says by whom)
      std::cerr << "\n";
    }
    if (raw_json) std::cout << ev->raw << "\n" << std::flush;
    else r.event(machine.empty() ? ev->msg : with_machine_prefix(ev->msg, machine));
    if (until == Until::caught_up && ev->seq >= sub.head()) return 0;
    if (kind == "approval_requested" && interactive && asking.is_null() && still_pending(p.value("id", ""))) {
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

struct RunOptions {
  std::string cwd, model, mode, prompt, on_host;
  bool json_out = false;
};

struct AttachOptions {
  std::string session;
  uint64_t from = 1;
  bool json_out = false, no_follow = false;
};

}  // namespace

void add_run_attach_commands(Commands& c) {
  const Context& ctx = c.ctx();
  auto ro = std::make_shared<RunOptions>();
  auto* run = c.add(nullptr, "run", "start a session with a prompt, stream it, answer approvals here", [ro, &ctx] {
    if (!ro->on_host.empty() && ro->cwd.empty()) {
      std::cerr << "ccmux: with run --host, --cwd names the project folder on that machine\n";
      return 1;
    }
    std::string cwd = session_cwd(ctx, ro->cwd);
    if (cwd.empty()) return 1;
    auto conn = ctx.connect();
    json params = {{"cwd", cwd}, {"prompt", ro->prompt}, {"model", ro->model}, {"permission_mode", ro->mode}};
    if (!ro->on_host.empty()) params["host"] = ro->on_host;
    json s = conn->request("session.new", params);
    std::string id = s["id"];
    if (!ro->json_out) std::cerr << "session " << id << " in " << s.value("cwd", "") << "\n";
    return stream(ctx, std::move(conn), id, 1, ro->json_out, Until::result, isatty(0) && !ro->json_out);
  });
  run->add_option("--cwd", ro->cwd, "project folder (default: current directory)");
  run->add_option("--host", ro->on_host,
                  "fleet mode: run it on machine NAME of the fleet, or `auto`; needs --cwd (see `ccmux new --help`)")
      ->type_name("NAME|auto");
  run->add_option("--model", ro->model, "claude model");
  run->add_option("--mode", ro->mode, "permission mode");
  run->add_flag("--json", ro->json_out, "print raw events as NDJSON");
  run->add_option("prompt", ro->prompt, "the prompt")->required();

  auto ao = std::make_shared<AttachOptions>();
  auto* attach = c.add(nullptr, "attach", "stream a session's events (stored, then live)", [ao, &ctx] {
    // Following at a terminal, attach answers approvals like run does.
    std::string id = ao->session;
    Context to = ctx.routed(id);  // "MACHINE/s-…" of hosts.yaml: that machine, directly
    std::string machine = id == ao->session ? "" : ao->session.substr(0, ao->session.size() - id.size() - 1);
    return stream(to, to.connect(), id, ao->from, ao->json_out,
                  ao->no_follow ? Until::caught_up : Until::session_end, isatty(0) && !ao->json_out && !ao->no_follow,
                  machine);
  });
  attach->add_option("session", ao->session,
                     "s-…, or MACHINE/s-… (MACHINE of hosts.yaml: asked directly; else the local daemon's fleet)")
      ->required();
  attach->add_option("--from", ao->from, "first seq to show (default 1)");
  attach->add_flag("--json", ao->json_out, "print raw events as NDJSON");
  attach->add_flag("--no-follow", ao->no_follow, "stop after the stored events");
}

}  // namespace ccmux::cli
