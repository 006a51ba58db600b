// ccmuxd: the daemon. Wires the core, serves the local API, loads plugins,
// speaks sd_notify, and shuts down cleanly on SIGTERM.
#include "approvals/policy_test.h"
#include "approvals/policy_worker.h"
#include "config/config.h"
#include "daemon/core.h"
#include "plugins/plugin_host.h"
#include "protocol/control_server.h"
#include "runtime/logging.h"
#include "unique_fd.h"
#include "sessions/held_process.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <mutex>
#include <system_error>
#include <thread>
#include <cstring>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/signalfd.h>
#include <unistd.h>

using namespace ccmux;

namespace {

int check_config(const std::string& file) {
  try {
    Config cfg = load_config(file, true);
    Core core;
    core.config = cfg;
    std::vector<std::string> errors;
    EventLoop loop;
    PolicyEngine engine(loop, policy_options(cfg));
    for (auto& e : engine.load_sync(cfg.policies)) errors.push_back("policy " + e);
    PluginHost plugins(core);
    for (auto& e : plugins.check_all()) errors.push_back(e);
    for (auto& e : errors) std::cerr << e << "\n";
    if (!errors.empty()) return 1;
    std::cout << file << ": ok\n";
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

// Plugins' stop() may wait for their own threads (network calls, …): a plugin that never
// returns must not keep ccmuxd, and systemd's stop job, waiting forever. Past the deadline
// the process exits; the store is consistent (it commits before plugins stop).
constexpr int kPluginStopSeconds = 10;

class ShutdownDeadline {
 public:
  explicit ShutdownDeadline(int seconds)
      : thread_([this, seconds] {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) return;
          spdlog::error("plugins did not stop within {} s: exiting without waiting for them", seconds);
          spdlog::default_logger()->flush();
          _exit(1);
        }) {}
  ~ShutdownDeadline() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members it uses exist
};

sigset_t handled_signals() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  return mask;
}

int watchdog_and_signals(Core& core, PluginHost& plugins) {
  sigset_t mask = handled_signals();
  UniqueFd sfd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sfd) throw std::system_error(errno, std::generic_category(), "signalfd");
  bool stopping = false, finished = false;
  // Shutdown order: sessions stop first (their last events still reach the plugins' clients),
  // then the plugins, on the loop while it still runs (their stop() may use the host, and what
  // they leave queued is dropped, not run against a dead loop), then the loop ends.
  auto finish = [&] {
    if (finished) return;
    finished = true;
    core.bus->flush();  // what the sessions wrote is stored before a plugin gets a chance to hang
    {
      ShutdownDeadline deadline(kPluginStopSeconds);
      plugins.stop_all();
    }
    core.loop.stop();
  };
  // SIGTERM/SIGINT (systemctl stop/restart) keep held sessions running for the next ccmuxd;
  // daemon.shutdown {stop_sessions: true} (ccmuxd --stop-sessions) ends them too.
  auto begin_stop = [&](bool stop_sessions, const std::string& why) {
    if (stopping) return;
    stopping = true;
    bool keep = core.config.hold && !stop_sessions;
    spdlog::info("{}: stopping{}", why, keep ? " (held sessions go on)" : " sessions");
    sd_notify(0, "STOPPING=1");
    plugins.begin_stopping();
    // Posted: plugins stop at the top of a loop turn, not inside the supervisor's callback.
    core.supervisor->shutdown([&] { core.loop.post(finish); }, !keep);
    core.loop.add_timer(core.config.stop_grace_s + 5, finish);
  };
  core.request_shutdown = [&](bool stop_sessions) { begin_stop(stop_sessions, "daemon.shutdown"); };
  core.loop.add_fd(sfd.get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo si;
    while (read(sfd.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP) {
        spdlog::info("SIGHUP: reloading policy scripts");
        core.reload_policies();
        continue;
      }
      begin_stop(false, "signal " + std::to_string(si.ssi_signo));
    }
  });
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    double period = static_cast<double>(usec) / 2e6;
    // Sent from the loop itself: a stuck loop stops the keep-alives and systemd restarts us.
    core.loop.every(period, [] { sd_notify(0, "WATCHDOG=1"); });
  }
  sd_notify(0, "READY=1");
  core.loop.run();
  core.request_shutdown = nullptr;
  core.loop.remove_fd(sfd.get());
  return 0;
}

}  // namespace

// ccmuxd --stop-sessions: a running daemon is asked (daemon.shutdown, stop_sessions) and
// waited for; with none, the holders it left are stopped directly.
int stop_all_sessions(const Config& config) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, config.socket_path.c_str(), sizeof addr.sun_path - 1);
  if (fd && connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string msg = nlohmann::json{{"type", "hello"}, {"protocol", kProtocolVersion}, {"client", "ccmuxd"}}.dump() +
                      "\n" +
                      nlohmann::json{{"type", "request"}, {"id", 1}, {"method", "daemon.shutdown"}, {"params", {{"stop_sessions", true}}}}.dump() +
                      "\n";
    if (::send(fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(msg.size())) {
      // The daemon closes the connection when it exits.
      char buf[4096];
      const double limit = config.stop_grace_s + 30;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
      for (;;) {
        pollfd p{fd.get(), POLLIN, 0};
        if (poll(&p, 1, 200) > 0 && read(fd.get(), buf, sizeof buf) <= 0) break;
        if (std::chrono::steady_clock::now() > deadline) {
          std::cerr << "ccmuxd --stop-sessions: the daemon did not stop within " << limit << " s\n";
          return 1;
        }
      }
      std::cout << "ccmuxd stopped with its sessions\n";
      return 0;
    }
  }
  size_t n = HolderHub::stop_all_in(config.state_dir + "/holders", config.stop_grace_s + 10);
  std::cout << "no ccmuxd running; stopped " << n << " held session(s)\n";
  return 0;
}

int main(int argc, char** argv) {
  if (int rc = maybe_run_policy_worker(argc, argv); rc >= 0) return rc;
  if (int rc = maybe_run_policy_test(argc, argv); rc >= 0) return rc;  // for `ccmux policy test`
  CLI::App app{"ccmuxd: host for Claude Code sessions"};
  std::string config_file, check_file;
  bool version = false, stop_sessions = false;
  app.add_option("--config", config_file, "config file (default: $XDG_CONFIG_HOME/ccmux/config.yaml)");
  app.add_option("--check-config", check_file, "validate a config file (and its policies and plugins), then exit");
  app.add_flag("--version", version, "print the version");
  app.add_flag("--stop-sessions", stop_sessions,
               "end every session (claude and its holder) and stop the running ccmuxd; with none running, stop the "
               "holders it left");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::cout << "ccmuxd " << kVersion << " (protocol " << kProtocolVersion << ", SDK " << CCMUX_SDK_VERSION_MAJOR << "."
              << CCMUX_SDK_VERSION_MINOR << ")\n";
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);
  if (!check_file.empty()) return check_config(check_file);
  // Blocked before any thread exists (store checkpointer, plugins): they inherit the mask,
  // so SIGTERM/SIGINT/SIGHUP reach only the loop's signalfd.
  sigset_t mask = handled_signals();
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);

  Core core;
  try {
    core.config = load_config(config_file, !config_file.empty());
  } catch (const ConfigError& e) {
    std::cerr << "ccmuxd: " << e.what() << "\n";
    return 2;
  }
  setup_logging(core.config.log_level);
  if (stop_sessions) return stop_all_sessions(core.config);
  std::string claude;
  try {
    claude = resolve_claude_path(core.config);
  } catch (const ConfigError& e) {
    spdlog::error("{}", e.what());
    return 2;
  }
  try {
    core.open(claude);
    core.supervisor->recover();
    ControlServer server(core, core.config.socket_path);
    server.start();
    PluginHost plugins(core);
    core.plugins = &plugins;
    plugins.start_all();
    spdlog::info("ccmuxd {} ready (claude: {}, state: {}, config: {})", kVersion, claude, core.config.state_dir,
                 core.config.source.empty() ? "built-in defaults" : core.config.source);
    int rc = watchdog_and_signals(core, plugins);
    core.plugins = nullptr;
    core.bus->flush();
    spdlog::info("ccmuxd stopped");
    return rc;
  } catch (const std::exception& e) {
    spdlog::error("ccmuxd: {}", e.what());
    return 1;
  }
}
