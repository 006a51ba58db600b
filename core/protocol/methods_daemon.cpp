// The daemon's own methods: liveness, status, plugins, the method list itself, and client
// tokens (local socket only: a remote transport's users cannot mint or revoke tokens).
#include "protocol/builtin_methods.h"

#include "daemon/core.h"
#include "plugins/plugin_host.h"
#include "util.h"

#include <unistd.h>

namespace ccmux {

using nlohmann::json;

namespace {

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

const char* const kTokensLocal = "tokens are managed over the local socket only";

}  // namespace

void add_daemon_methods(MethodRegistry& r) {
  add_builtin(r, {.name = "ping",
                  .result = "{pong: true}",
                  .handler = [](Call&, const MethodDone& done) { done(true, {{"pong", true}}); }});
  add_builtin(r, {.name = "status",
                  .result = "{version, protocol, pid, uptime_s, sessions, live_processes, economy, pending_approvals, "
                            "approvals, events, clients, cost_usd, input_tokens, output_tokens, turns, "
                            "claude_rss_bytes, daemon_rss_bytes, state_dir, config}",
                  .handler = [](Call& c, const MethodDone& done) { done(true, status(c.core)); }});
  add_builtin(r, {.name = "daemon.shutdown",
                  .trust = Trust::local,
                  .params = {{.name = "stop_sessions",
                              .type = ParamType::boolean,
                              .meaning = "also end every claude (default: held sessions go on, the next ccmuxd adopts them)"}},
                  .result = "{stopping: true}; the daemon then exits",
                  .forbidden = "only over the local socket",
                  .handler = [](Call& c, const MethodDone& done) {
                    bool stop = c.params.contains("stop_sessions") && c.params["stop_sessions"].is_boolean() &&
                                c.params["stop_sessions"].get<bool>();
                    if (!c.core.request_shutdown) throw CommandError("unavailable", "this ccmuxd cannot be stopped this way");
                    done(true, {{"stopping", true}, {"stop_sessions", stop}});
                    c.core.loop.post([&core = c.core, stop] { core.request_shutdown(stop); });
                  }});
  add_builtin(r, {.name = "plugins.list",
                  .result = "{plugins: [{name, state, version, description, sdk, path, methods} | {name, state, error}]}",
                  .handler = [](Call& c, const MethodDone& done) {
                    done(true, {{"plugins", c.core.plugins ? c.core.plugins->list() : json::array()}});
                  }});
  add_builtin(r, {.name = "methods.list",
                  .result = "{methods: [{name, trust, params: [{name, type, required, meaning, min?, max?}] | null, "
                            "result, plugin?}]}",
                  .handler = [](Call& c, const MethodDone& done) { done(true, {{"methods", c.core.methods.describe()}}); }});

  // Every token.* name is the daemon's, and refused to remote callers even when unknown.
  r.reserve_prefix("token.", Trust::local, kTokensLocal);
  add_builtin(r, {.name = "token.create",
                  .trust = Trust::local,
                  .params = {{.name = "name", .required = true, .meaning = "1-64 of letters, digits, -_."}},
                  .result = "{name, token}: the only time the token is shown",
                  .forbidden = kTokensLocal,
                  .handler = [](Call& c, const MethodDone& done) {
                    std::string name = c.p.required_str("name");
                    done(true, {{"name", name}, {"token", c.core.tokens->create(name)}});
                  }});
  add_builtin(r, {.name = "token.list",
                  .trust = Trust::local,
                  .result = "{tokens: [{name, created_ms, last_used_ms}]}",
                  .forbidden = kTokensLocal,
                  .handler = [](Call& c, const MethodDone& done) {
                    json arr = json::array();
                    for (auto& t : c.core.tokens->list())
                      arr.push_back({{"name", t.name}, {"created_ms", t.created_ms}, {"last_used_ms", t.last_used_ms}});
                    done(true, {{"tokens", arr}});
                  }});
  add_builtin(r, {.name = "token.revoke",
                  .trust = Trust::local,
                  .params = {{.name = "name", .required = true, .meaning = "the token's name"}},
                  .result = "{revoked: bool}",
                  .forbidden = kTokensLocal,
                  .handler = [](Call& c, const MethodDone& done) {
                    done(true, {{"revoked", c.core.tokens->revoke(c.p.required_str("name"))}});
                  }});
}

}  // namespace ccmux
