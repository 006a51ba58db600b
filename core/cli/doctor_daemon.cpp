// `ccmux doctor`: the daemon behind the socket the CLI uses, its plugins and its tokens.
#include "doctor_checks.h"
#include "paths.h"
#include "version.h"

#include <ccmux/client/connection.h>
#include <sqlite3.h>

#include <algorithm>

namespace ccmux::cli {

using nlohmann::json;

namespace {

// The connect error's message, without its generic hint (doctor gives its own fix).
std::string reason(const std::exception& e) {
  std::string m = e.what();
  if (auto hint = m.find(" (is it running?"); hint != std::string::npos) m.erase(hint);
  return m;
}

void ask(const std::string& socket, DaemonInfo& info) {
  client::Connection c(socket);
  info.reachable = true;
  info.socket = socket;
  info.status = c.request("status");
  info.plugins = c.request("plugins.list").value("plugins", json::array());
  try {
    info.tokens = c.request("token.list").value("tokens", json::array());
    info.tokens_known = true;
  } catch (const client::RequestFailed&) {
  }
}

std::string start_fix() {
  if (systemd_running())
    return std::string("ccmux service install ") + (system_mode() ? "--system" : "--user") + "   (or by hand: ccmuxd &)";
  return "ccmuxd &   (no systemd runs here to keep it as a service)";
}

std::string uptime(int64_t s) {
  return std::to_string(s / 3600) + "h" + (s / 60 % 60 < 10 ? "0" : "") + std::to_string(s / 60 % 60) + "m";
}

}  // namespace

Finding check_daemon(const std::string& socket, const Config& cfg, DaemonInfo& info) {
  Finding f{"daemon", Level::ok, "", ""};
  try {
    ask(socket, info);
  } catch (const client::Unreachable& e) {
    info = DaemonInfo{};
    std::string why = reason(e);
    // ccmuxd may be up on the socket its config names while ccmux looks elsewhere.
    if (!cfg.socket_path.empty() && cfg.socket_path != socket) {
      try {
        ask(cfg.socket_path, info);
        f.level = Level::problem;
        f.message = "ccmuxd listens at " + cfg.socket_path + " (daemon.socket) but ccmux looks at " + socket;
        f.fix = "export CCMUX_DAEMON_SOCKET=" + cfg.socket_path + "   (or ccmux --socket " + cfg.socket_path + " ...)";
        return f;
      } catch (const std::exception&) {
        info = DaemonInfo{};
      }
    }
    f.level = Level::problem;
    auto* failed = dynamic_cast<const client::ConnectError*>(&e);
    if (failed && failed->reason == client::ConnectFailure::refused) {
      f.message = why + " (another protocol version than this ccmux " + kVersion + ")";
      f.fix = "restart ccmuxd so that the installed version runs (systemctl --user restart ccmuxd, or stop it and start ccmuxd)";
    } else {
      f.message = "not reachable: " + why;
      f.fix = start_fix();
    }
    return f;
  } catch (const client::RequestFailed& e) {
    f.level = Level::warning;
    f.message = "ccmuxd at " + socket + " answers, but refused status: " + e.code + ": " + e.what();
    return f;
  }
  const json& st = info.status;
  std::string version = st.value("version", "?");
  int protocol = st.value("protocol", 0);
  f.message = "ccmuxd " + version + " (protocol " + std::to_string(protocol) + "), pid " +
              std::to_string(st.value("pid", 0)) + ", up " + uptime(st.value("uptime_s", int64_t{0})) + ", at " + socket;
  if (version != kVersion || protocol != kProtocolVersion) {
    f.level = Level::warning;
    f.message += "; this ccmux is " + std::string(kVersion) + " (protocol " + std::to_string(kProtocolVersion) + ")";
    f.fix = "restart ccmuxd so that the installed version runs (systemctl --user restart ccmuxd, or stop it and start ccmuxd)";
  }
  return f;
}

std::vector<Finding> check_plugins(const Config& cfg, const DaemonInfo& info) {
  std::vector<std::string> configured;
  for (auto& p : cfg.plugins)
    if (p.enabled) configured.push_back(p.name);
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!info.reachable)
    return {{"plugins", Level::note,
             "not checked (ccmuxd not reachable); configured: " + (configured.empty() ? "none" : joined(configured)), ""}};
  std::vector<Finding> out;
  std::vector<std::string> running, disabled, seen;
  std::string daemon_config = info.status.value("config", "");
  for (auto& p : info.plugins) {
    std::string name = p.value("name", "");
    std::string state = p.value("state", "");
    seen.push_back(name);
    if (state == "running") running.push_back(name + " " + p.value("version", ""));
    else if (state == "disabled") disabled.push_back(name);
    else
      out.push_back({"plugins", Level::problem, name + " is not loaded (" + state + "): " + p.value("error", "no reason given"),
                     "correct its entry in " + daemon_config + " (ccmuxd --check-config " + daemon_config +
                         " shows why), then restart ccmuxd"});
  }
  for (auto& name : configured)
    if (std::find(seen.begin(), seen.end(), name) == seen.end())
      out.push_back({"plugins", Level::warning,
                     name + " is in " + (cfg.source.empty() ? "the config" : cfg.source) +
                         " but not in the running ccmuxd (which read " + daemon_config + ")",
                     "restart ccmuxd to load it"});
  Finding sum{"plugins", Level::ok, "", ""};
  sum.message = running.empty() ? "none loaded" : std::to_string(running.size()) + " loaded: " + joined(running);
  if (!disabled.empty()) sum.message += "; disabled in the config: " + joined(disabled);
  out.insert(out.begin(), sum);
  return out;
}

Finding check_tokens(const DaemonInfo& info, const std::string& db_path) {
  Finding f{"tokens", Level::ok, "", ""};
  std::vector<std::string> names;
  if (info.tokens_known) {
    for (auto& t : info.tokens) names.push_back(t.value("name", ""));
  } else {
    // ccmuxd down: the store says, read-only.
    sqlite3* db = nullptr;
    bool read = false;
    if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 2000);
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT name FROM tokens ORDER BY created_ms", -1, &st, nullptr) == SQLITE_OK) {
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
          if (auto* t = sqlite3_column_text(st, 0)) names.push_back(reinterpret_cast<const char*>(t));
        read = rc == SQLITE_DONE;
      }
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (!read) {
      f.level = Level::note;
      f.message = "not checked (ccmuxd not reachable and no readable store at " + db_path + ")";
      return f;
    }
  }
  if (names.empty()) {
    f.message = "none (remote transports need one: ccmux token create NAME)";
    return f;
  }
  std::string list;
  for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
  f.message = std::to_string(names.size()) + ": " + list;
  return f;
}

}  // namespace ccmux::cli
