#include "fuzz_daemon.h"

#include "plugins/plugin_host.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace ccmux::fuzz {

namespace fs = std::filesystem;

namespace {
std::string make_root() {
  // tmpfs when there is one: SQLite commits every input.
  std::string base = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
  std::string tmpl = base + "/ccmux-fuzz-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}
std::vector<std::string>& roots_to_remove() {
  static auto* v = new std::vector<std::string>();
  return *v;
}
}  // namespace

// CCMUX_FUZZ_VERBOSE: the daemon's log (and the policy worker's stderr) on stderr.
void quiet_logs() {
  spdlog::set_level(std::getenv("CCMUX_FUZZ_VERBOSE") ? spdlog::level::info : spdlog::level::off);
}

std::string silent_claude_path() { return std::string(CCMUX_SOURCE_DIR) + "/fuzz/silent_claude.sh"; }

std::vector<std::string_view> lines_of(std::string_view data) {
  std::vector<std::string_view> out;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    out.push_back(data.substr(0, nl));
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  return out;
}

FuzzDaemon::FuzzDaemon(DaemonSetup setup) : setup_(std::move(setup)) {
  quiet_logs();
  if (const char* r = std::getenv("CCMUX_FUZZ_ROTATE")) setup_.rotate_every = std::max(1L, std::atol(r));
  root_ = make_root();
  // Crashes end the process without destructors: the dirs go at exit when they can.
  roots_to_remove().push_back(root_);
  static bool registered = [] {
    std::atexit([] {
      std::error_code ec;
      for (auto& r : roots_to_remove()) fs::remove_all(r, ec);
    });
    return true;
  }();
  (void)registered;
}

FuzzDaemon::~FuzzDaemon() {
  close();
  std::error_code ec;
  fs::remove_all(root_, ec);
}

Core& FuzzDaemon::begin_input() {
  if (core_ && inputs_ >= setup_.rotate_every) close();
  if (!core_) open();
  ++inputs_;
  return *core_;
}

void FuzzDaemon::open() {
  dir_ = root_ + "/g" + std::to_string(generation_++);
  worker_starts_ = 0;
  fs::create_directories(dir_ + "/proj");
  fs::create_directories(dir_ + "/run");
  std::string yaml = "daemon:\n  state_dir: " + dir_ + "/state\n  socket: " + dir_ +
                     "/run/ccmuxd.sock\n  log_level: error\n"
                     "claude:\n  warm_pool: 0\n  stop_grace: 1\n  max_live: 4\n"
                     "projects:\n  roots: [" + dir_ + "/proj]\n"
                     "approval:\n  timeout: 60\n  policies: [builtin:default]\n  lua_instructions: 200000\n"
                     "  lua_timeout_ms: 5000\n" +
                     setup_.extra_yaml;
  core_ = std::make_unique<Core>();
  core_->config = parse_config(yaml, dir_ + "/config.yaml");
  core_->open(silent_claude_path());
  core_->supervisor->recover();
  if (setup_.start_plugins) {
    plugins_ = std::make_unique<PluginHost>(*core_);
    core_->plugins = plugins_.get();
    plugins_->start_all();
  }
  token_ = core_->tokens->create("fuzz");
  session_ = core_->supervisor->create(dir_ + "/proj", nlohmann::json(), "", "");
  inputs_ = 0;
  pump();
  end_input();
}

void FuzzDaemon::close() {
  if (!core_) return;
  if (plugins_) {
    plugins_->stop_all();
    core_->plugins = nullptr;
    plugins_.reset();
  }
  // As ccmuxd does on SIGTERM: children get stdin EOF and exit; bounded like its grace timer.
  core_->supervisor->shutdown([this] { core_->loop.stop(); });
  core_->loop.add_timer(5, [this] { core_->loop.stop(); });
  core_->loop.run();
  core_->bus->flush();
  core_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void FuzzDaemon::pump(double extra_s) {
  if (extra_s > 0) core_->loop.add_timer(extra_s, [this] { core_->loop.stop(); });
  else core_->loop.stop();
  core_->loop.run();
}

void FuzzDaemon::end_input() {
  for (int i = 0; i < 2000 && !core_->policies->idle(); ++i) pump(0.002);
  uint64_t starts = core_->policies->worker_starts();
  if (worker_starts_ && starts != worker_starts_) {
    std::fprintf(stderr,
                 "the policy worker died or was killed during this input (started %llu times); "
                 "CCMUX_FUZZ_VERBOSE=1 shows its stderr\n",
                 static_cast<unsigned long long>(starts));
    std::abort();
  }
  worker_starts_ = starts;
}

std::string FuzzDaemon::substitute(std::string_view text) const {
  std::string out(text);
  for (auto& [from, to] : {std::pair<std::string, std::string>{"@SESSION@", session_}, {"@TOKEN@", token_}}) {
    for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + to.size()))
      out.replace(at, from.size(), to);
  }
  return out;
}

}  // namespace ccmux::fuzz
