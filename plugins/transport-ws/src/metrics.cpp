#include "metrics.h"

#include <set>
#include <sstream>

namespace ccmux::ws {

namespace {
void family(std::ostringstream& o, const char* name, const char* type, const char* help) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}
double num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
}  // namespace

std::string prometheus_text(const nlohmann::json& status, const TransportCounters& t) {
  std::ostringstream o;
  o.precision(10);
  family(o, "ccmux_sessions", "gauge", "Sessions by state.");
  // Every state is always present so dashboards see zeros instead of gaps.
  const nlohmann::json sessions = status.value("sessions", nlohmann::json::object());
  static const std::set<std::string> kStates = {"starting", "idle",   "running", "waiting_approval", "parked",
                                                "queued",   "restarting", "exited", "failed"};
  for (const auto& s : kStates) o << "ccmux_sessions{state=\"" << s << "\"} " << num(sessions, s.c_str()) << '\n';
  for (auto& [state, n] : sessions.items())
    if (!kStates.count(state)) o << "ccmux_sessions{state=\"" << state << "\"} " << n << '\n';
  family(o, "ccmux_live_processes", "gauge", "claude processes running.");
  o << "ccmux_live_processes " << num(status, "live_processes") << '\n';
  const nlohmann::json economy = status.value("economy", nlohmann::json::object());
  family(o, "ccmux_max_live", "gauge", "claude.max_live: live claude processes allowed.");
  o << "ccmux_max_live " << num(economy, "max_live") << '\n';
  family(o, "ccmux_waiting_for_slot", "gauge", "Sessions waiting for a live slot.");
  o << "ccmux_waiting_for_slot " << num(economy, "waiting_for_slot") << '\n';
  family(o, "ccmux_warm_processes", "gauge", "Pre-spawned claude processes in the warm pool.");
  o << "ccmux_warm_processes " << economy.value("warm_pool", nlohmann::json::object()).value("processes", nlohmann::json::array()).size() << '\n';
  family(o, "ccmux_pending_approvals", "gauge", "Approvals waiting for an answer.");
  o << "ccmux_pending_approvals " << num(status, "pending_approvals") << '\n';
  family(o, "ccmux_approvals_total", "counter", "Approvals by outcome.");
  const nlohmann::json approvals = status.value("approvals", nlohmann::json::object());
  for (const char* s : {"allow", "deny", "cancelled"})
    o << "ccmux_approvals_total{outcome=\"" << s << "\"} " << num(approvals, s) << '\n';
  family(o, "ccmux_events_total", "counter", "Events stored, all sessions.");
  o << "ccmux_events_total " << num(status, "events") << '\n';
  family(o, "ccmux_clients", "gauge", "Protocol clients connected to ccmuxd (all transports).");
  o << "ccmux_clients " << num(status, "clients") << '\n';
  family(o, "ccmux_cost_usd_total", "counter", "Cost reported by claude, all sessions.");
  o << "ccmux_cost_usd_total " << num(status, "cost_usd") << '\n';
  family(o, "ccmux_tokens_total", "counter", "Tokens reported by claude, all sessions.");
  o << "ccmux_tokens_total{direction=\"input\"} " << num(status, "input_tokens") << '\n';
  o << "ccmux_tokens_total{direction=\"output\"} " << num(status, "output_tokens") << '\n';
  family(o, "ccmux_turns_total", "counter", "Turns claude finished, all sessions.");
  o << "ccmux_turns_total " << num(status, "turns") << '\n';
  family(o, "ccmux_claude_rss_bytes", "gauge", "Resident memory of the running claude processes.");
  o << "ccmux_claude_rss_bytes " << num(status, "claude_rss_bytes") << '\n';
  family(o, "ccmux_daemon_rss_bytes", "gauge", "Resident memory of ccmuxd itself.");
  o << "ccmux_daemon_rss_bytes " << num(status, "daemon_rss_bytes") << '\n';
  family(o, "ccmux_uptime_seconds", "gauge", "Seconds since ccmuxd started.");
  o << "ccmux_uptime_seconds " << num(status, "uptime_s") << '\n';
  family(o, "ccmux_ws_connections", "gauge", "Open WebSocket connections.");
  o << "ccmux_ws_connections{auth=\"yes\"} " << t.authenticated << '\n';
  o << "ccmux_ws_connections{auth=\"no\"} " << (t.connections - t.authenticated) << '\n';
  family(o, "ccmux_ws_auth_failures_total", "counter", "Failed WebSocket or /metrics logins.");
  o << "ccmux_ws_auth_failures_total " << t.auth_failures << '\n';
  family(o, "ccmux_ws_refused_total", "counter", "WebSocket upgrades refused with 503 (max_connections, max_connections_per_address).");
  o << "ccmux_ws_refused_total " << t.refused << '\n';
  family(o, "ccmux_ws_slow_disconnects_total", "counter", "Clients closed because their send queue was full.");
  o << "ccmux_ws_slow_disconnects_total " << t.slow_disconnects << '\n';
  family(o, "ccmux_ws_messages_sent_total", "counter", "WebSocket messages sent.");
  o << "ccmux_ws_messages_sent_total " << t.messages_sent << '\n';
  return o.str();
}

}  // namespace ccmux::ws
