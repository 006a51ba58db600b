#include "commands.h"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "hooks.h"
#include "json_fields.h"
#include "plugin_host.h"
#include "util.h"

namespace ccmux {

using nlohmann::json;

namespace {

std::string required_string(const json& params, const char* key) { return Fields(params).required_str(key); }

json status(Core& core) {
  json by_state = json::object();
  for (auto& [state, n] : core.supervisor->count_by_state()) by_state[state] = n;
  double cost = 0;
  int64_t in = 0, out = 0, events = 0, rss = 0, turns = 0;
  for (auto& s : core.supervisor->list()) {
    cost += s.value("cost_usd", 0.0);
    in += s.value("input_tokens", int64_t{0});
    out += s.value("output_tokens", int64_t{0});
    events += s.value("last_seq", int64_t{0});
    rss += s.value("rss_bytes", int64_t{0});
    turns += s.value("turns", int64_t{0});
  }
  json outcomes = json::object();
  for (auto& [decision, n] : core.store->approval_outcomes()) outcomes[decision] = n;
  return {{"version", kVersion},
          {"protocol", kProtocolVersion},
          {"pid", getpid()},
          {"uptime_s", (now_ms() - core.started_ms) / 1000},
          {"sessions", by_state},
          {"live_processes", core.supervisor->live_count()},
          {"economy", core.supervisor->economy()},
          {"pending_approvals", core.approvals->pending_count()},
          {"approvals", outcomes},
          {"events", events},
          {"clients", core.clients.size()},
          {"cost_usd", cost},
          {"input_tokens", in},
          {"output_tokens", out},
          {"turns", turns},
          {"claude_rss_bytes", rss},
          {"daemon_rss_bytes", process_rss_bytes(getpid())},
          {"state_dir", core.config.state_dir},
          {"config", core.config.source.empty() ? "(built-in defaults)" : core.config.source}};
}

// The project roots and their immediate sub-folders: where a remote client may start a session.
json projects(const Core& core) {
  namespace fs = std::filesystem;
  json roots = json::array();
  for (const auto& root : core.config.project_roots) {
    json folders = json::array();
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.empty() || name[0] == '.' || !it->is_directory(ec)) continue;
      names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    if (names.size() > 500) names.resize(500);  // a phone needs a short list, not a home directory dump
    for (auto& n : names) folders.push_back(root + "/" + n);
    roots.push_back({{"root", root}, {"folders", folders}});
  }
  return {{"roots", roots}};
}

// A piece of the whole payload of an event that was stored cut (over claude.max_event_bytes),
// as base64: the bytes are claude's, and a piece may end inside a UTF-8 sequence.
json event_payload(Core& core, const Fields& p) {
  std::string session = p.required_str("session");
  if (!core.supervisor->exists(session)) throw CommandError("not_found", "no session " + session);
  if (!p.has("seq")) throw CommandError("bad_params", "missing parameter 'seq'");
  auto seq = static_cast<uint64_t>(p.integer("seq", 0, 1));
  auto offset = static_cast<size_t>(p.integer("offset", 0, 0));
  auto length = static_cast<size_t>(p.integer("length", 1 << 20, 1, 4 << 20));
  const EventCap* cap = core.bus->cap();
  std::string path = cap ? cap->file_for(session, seq) : "";
  // Never through a symlink: the file is ccmuxd's own, under its state dir.
  int fd = path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st {};
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    ::close(fd);
    fd = -1;
  }
  if (fd < 0)
    throw CommandError("not_found", "no whole payload is kept for event " + std::to_string(seq) + " of " + session +
                                        " (only events over claude.max_event_bytes have one; their ccmux_truncated "
                                        "says file_error when it could not be written)");
  auto size = static_cast<size_t>(st.st_size);
  std::string data(offset < size ? std::min(length, size - offset) : 0, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = pread(fd, data.data() + got, data.size() - got, static_cast<off_t>(offset + got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  std::string b64(4 * ((got + 2) / 3) + 1, '\0');
  size_t written = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(b64.data()), b64.size(), &written,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size());
  b64.resize(written);
  return {{"session", session}, {"seq", seq}, {"bytes", size}, {"offset", offset}, {"data", b64}};
}

}  // namespace

bool is_builtin_method(const std::string& method) {
  static const std::set<std::string> kBuiltin = {
      "ping", "status", "projects.list", "session.new", "session.list", "session.get", "session.send", "session.stop", "session.resume",
      "session.interrupt", "session.mode", "subscribe", "unsubscribe", "approvals.list", "approval.answer",
      "token.create", "token.list", "token.revoke", "plugins.list", "hook.event", "event.payload"};
  return kBuiltin.count(method) > 0 || method.rfind("token.", 0) == 0;
}

void run_command(Core& core, const std::string& who, bool trusted, const std::string& method, const json& params,
                 CommandDone done) {
  Supervisor& sup = *core.supervisor;
  if (method == "ping") return done(true, {{"pong", true}});
  if (method == "status") return done(true, status(core));
  if (method == "projects.list") return done(true, projects(core));
  if (method == "session.list") return done(true, {{"sessions", sup.list()}});
  if (method == "session.get") return done(true, sup.info(required_string(params, "session")));
  Fields p(params);
  if (method == "session.new") {
    std::string id = sup.create(p.str("cwd"), p.any("prompt"), p.str("model"), p.str("permission_mode"));
    return done(true, sup.info(id));
  }
  if (method == "session.send") {
    std::string id = required_string(params, "session");
    if (!p.has("prompt")) throw CommandError("bad_params", "missing parameter 'prompt'");
    int64_t pid = sup.send(id, p.any("prompt"));
    return done(true, {{"prompt_id", pid}, {"session", id}});
  }
  if (method == "session.resume") {
    std::string id = required_string(params, "session");
    sup.resume(id);
    return done(true, sup.info(id));
  }
  if (method == "session.stop") {
    sup.stop(required_string(params, "session"));
    return done(true, json::object());
  }
  if (method == "session.interrupt") {
    sup.interrupt(required_string(params, "session"), [done](bool ok, const json& r) {
      done(ok, ok ? r : json{{"code", "claude_error"}, {"message", r.value("error", "interrupt failed")}});
    });
    return;
  }
  if (method == "session.mode") {
    sup.set_mode(required_string(params, "session"), required_string(params, "mode"), [done](bool ok, const json& r) {
      done(ok, ok ? r : json{{"code", "claude_error"}, {"message", r.value("error", "mode change failed")}});
    });
    return;
  }
  if (method == "approvals.list") {
    bool all = p.boolean("all", false);
    auto limit = static_cast<size_t>(p.integer("limit", 100, 1, 10000));
    if (all) {
      json arr = json::array();
      for (auto& row : core.store->list_approvals(false, limit))
        arr.push_back(ApprovalChain::row_json(row));
      return done(true, {{"approvals", arr}});
    }
    return done(true, {{"approvals", core.approvals->pending_json()}});
  }
  if (method == "approval.answer") {
    std::string id = required_string(params, "id");
    std::string decision = required_string(params, "decision");
    std::string by = p.str("by");
    // An input or answers of the wrong shape would be dropped silently further on: refuse them.
    json updated_input = p.has("updated_input") ? p.object("updated_input") : json();
    json answers = p.has("answers") ? p.object("answers") : json();
    auto r = core.approvals->answer(id, decision, p.str("reason"), updated_input, answers,
                                    by.empty() ? "client:" + who : "client:" + who + ":" + by,
                                    p.boolean("interrupt", false));
    switch (r.outcome) {
      case ApprovalChain::Outcome::resolved:
        return done(true, {{"status", "resolved"}, {"approval", ApprovalChain::row_json(r.row)}});
      case ApprovalChain::Outcome::already_resolved:
        // Not an error: the first answer stands and the caller learns which it was.
        return done(true, {{"status", "already_resolved"}, {"message", r.message}, {"approval", ApprovalChain::row_json(r.row)}});
      case ApprovalChain::Outcome::not_found:
        throw CommandError("not_found", r.message);
      case ApprovalChain::Outcome::invalid:
        throw CommandError("bad_params", r.message);
    }
  }
  if (method.rfind("token.", 0) == 0) {
    if (!trusted) throw CommandError("forbidden", "tokens are managed over the local socket only");
    if (method == "token.create") {
      std::string name = required_string(params, "name");
      return done(true, {{"name", name}, {"token", core.tokens->create(name)}});
    }
    if (method == "token.list") {
      json arr = json::array();
      for (auto& t : core.tokens->list())
        arr.push_back({{"name", t.name}, {"created_ms", t.created_ms}, {"last_used_ms", t.last_used_ms}});
      return done(true, {{"tokens", arr}});
    }
    if (method == "token.revoke") return done(true, {{"revoked", core.tokens->revoke(required_string(params, "name"))}});
  }
  if (method == "hook.event") {
    // The hook runs as the daemon's user: only the owner-only local socket may speak for it.
    if (!trusted) throw CommandError("forbidden", "hook.event is for `ccmux hook` over the local socket");
    core.hooks->handle(params, done);
    return;
  }
  if (method == "event.payload") return done(true, event_payload(core, p));
  if (method == "plugins.list") return done(true, {{"plugins", core.plugins ? core.plugins->list() : json::array()}});
  if (core.plugins && core.plugins->has_method(method)) {
    core.plugins->call_method(method, params, who, trusted, done);
    return;
  }
  throw CommandError("unknown_method", "unknown method '" + method + "'");
}

}  // namespace ccmux
