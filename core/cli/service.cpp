#include "service.h"

#include "paths.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <pwd.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace ccmux::cli {
namespace fs = std::filesystem;

namespace {

const char* const kUnit = "ccmuxd.service";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

std::string user_name() {
  if (const passwd* pw = getpwuid(geteuid())) return pw->pw_name;
  return env_or("USER", std::to_string(geteuid()));
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Where `install` writes a unit of its own (under --root when given).
std::string written_unit_path(const ServiceOptions& o) {
  std::string dir = o.scope == Scope::user
                        ? env_or("XDG_CONFIG_HOME", env_or("HOME", "/") + "/.config") + "/systemd/user"
                        : "/etc/systemd/system";
  return o.root + dir + "/" + kUnit;
}

// The unit installed with this ccmux (<prefix>/lib/systemd/<scope>/ccmuxd.service), or "".
std::string installed_unit(const ServiceOptions& o) {
  std::string prefix = self_install_prefix();
  if (prefix.empty()) return "";
  std::string unit = prefix + (o.scope == Scope::user ? "/lib/systemd/user/" : "/lib/systemd/system/") + kUnit;
  return fs::is_regular_file(unit) ? unit : "";
}

std::vector<std::string> systemctl(const ServiceOptions& o, std::vector<std::string> args) {
  std::vector<std::string> argv = {"systemctl"};
  if (o.scope == Scope::user) argv.push_back("--user");
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string shown(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Runs argv (systemctl) with the terminal as its output, or only prints it under --root.
// capture: its stdout instead. Returns its exit status; 127 when it cannot be started.
int run(const ServiceOptions& o, const std::vector<std::string>& argv, std::string* capture = nullptr) {
  if (!o.root.empty()) {
    std::cout << "would run: " << shown(argv) << "\n";
    return 0;
  }
  int p[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (capture) {
    if (pipe(p) != 0) return 127;
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    posix_spawn_file_actions_addclose(&fa, p[1]);
  }
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (capture) {
    close(p[1]);
    if (err == 0) {
      char buf[4096];
      ssize_t n;
      while ((n = read(p[0], buf, sizeof buf)) > 0) capture->append(buf, static_cast<size_t>(n));
    }
    close(p[0]);
  }
  if (err != 0) {
    std::cerr << "ccmux service: cannot run " << argv[0] << ": " << std::strerror(err)
              << (err == ENOENT ? " (systemd is not installed here: start ccmuxd by hand)" : "") << "\n";
    return 127;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Why systemctl failed, in the terms of what the user can do about it.
void explain_failure(const ServiceOptions& o, const std::vector<std::string>& argv, int rc) {
  std::cerr << "ccmux service: '" << shown(argv) << "' failed (exit " << rc << ").\n";
  if (o.scope == Scope::user)
    std::cerr << "  `systemctl --user` needs your user manager, which systemd starts when you log in (ssh,\n"
                 "  console, desktop). From su/sudo or cron it is missing: log in as "
              << user_name()
              << " instead, or\n"
                 "  enable lingering (`loginctl enable-linger "
              << user_name()
              << "`) and set XDG_RUNTIME_DIR=/run/user/" << geteuid()
              << ".\n  In a container or chroot without systemd, start ccmuxd by hand.\n";
  else
    std::cerr << "  Is systemd running (PID 1)? In a container or chroot without it, start ccmuxd by hand.\n";
}

bool need_root(const ServiceOptions& o, const char* verb) {
  if (o.scope != Scope::system || !o.root.empty() || geteuid() == 0) return true;
  std::cerr << "ccmux service " << verb << " --system changes /etc/systemd/system and needs root: sudo ccmux service "
            << verb << " --system\n  (for your own ccmuxd: ccmux service " << verb << ", which is --user)\n";
  return false;
}

void explain_linger() {
  std::string user = user_name();
  if (fs::exists("/var/lib/systemd/linger/" + user)) {
    std::cout << "Lingering is on for " << user << ": ccmuxd runs without a login too, and starts at boot.\n";
    return;
  }
  std::cout << "ccmuxd runs while " << user << " is logged in. To keep it running after you log out, and start\n"
            << "it at boot, let your user manager linger: loginctl enable-linger " << user << "\n";
}

}  // namespace

int service_install(const ServiceOptions& o) {
  if (!need_root(o, "install")) return 1;
  const std::string target = written_unit_path(o);
  bool ours = false;
  if (fs::exists(fs::symlink_status(target))) {
    ours = written_by_ccmux(read_text(target));
    if (!ours) {
      std::cerr << "ccmux service: " << target << " exists and was not written by ccmux service install; it is left\n"
                << "  alone. Remove it, or use it: " << shown(systemctl(o, {"enable", "--now", kUnit})) << "\n";
      return 1;
    }
  }
  std::string installed = installed_unit(o), enable = kUnit;
  if (!installed.empty()) {
    // A unit we wrote earlier would hide the installed one.
    if (ours) {
      fs::remove(target);
      std::cout << "removed " << target << " (written earlier; the installed unit replaces it)\n";
    }
    if (!on_systemd_search_path(o.scope, fs::path(installed).parent_path().string())) enable = installed;
    std::cout << "using the installed unit " << installed << "\n";
  } else {
    std::string ccmuxd = (fs::path(o.self).parent_path() / "ccmuxd").string();
    if (access(ccmuxd.c_str(), X_OK) != 0) {
      std::cerr << "ccmux service: no unit is installed with " << o.self << " and there is no ccmuxd beside it ("
                << ccmuxd << ")\n";
      return 1;
    }
    std::string prefix = self_install_prefix();
    std::string doc = prefix.empty() ? "" : prefix + "/share/doc/ccmux";
    if (!fs::exists(doc + "/README.md")) doc.clear();
    std::error_code ec;
    fs::create_directories(fs::path(target).parent_path(), ec);
    std::ofstream f(target, std::ios::binary | std::ios::trunc);
    f << render_unit(o.scope, ccmuxd, doc);
    f.close();
    if (!f) {
      std::cerr << "ccmux service: cannot write " << target << "\n";
      return 1;
    }
    std::cout << "wrote " << target << " (ExecStart=" << ccmuxd << ")\n";
  }
  for (const auto& argv : {systemctl(o, {"daemon-reload"}), systemctl(o, {"enable", "--now", enable})}) {
    if (int rc = run(o, argv); rc != 0) {
      explain_failure(o, argv, rc);
      return 1;
    }
  }
  if (o.scope == Scope::user) {
    explain_linger();
  } else {
    std::cout << "ccmuxd runs as root; to run it as another user: systemctl edit ccmuxd -> [Service] User=NAME "
                 "(see the comments in the unit)\n";
  }
  return 0;
}

int service_uninstall(const ServiceOptions& o) {
  if (!need_root(o, "uninstall")) return 1;
  auto disable = systemctl(o, {"disable", "--now", kUnit});
  int rc = run(o, disable);
  if (rc != 0) explain_failure(o, disable, rc);
  const std::string target = written_unit_path(o);
  if (fs::exists(fs::symlink_status(target))) {
    if (written_by_ccmux(read_text(target))) {
      fs::remove(target);
      std::cout << "removed " << target << "\n";
      if (int r = run(o, systemctl(o, {"daemon-reload"})); r != 0) rc = r;
    } else {
      std::cout << "left " << target << " alone (not written by ccmux service install)\n";
    }
  }
  return rc == 0 ? 0 : 1;
}

int service_status(const ServiceOptions& o) {
  const std::string target = written_unit_path(o), installed = installed_unit(o);
  if (fs::exists(target))
    std::cout << "unit: " << target << (written_by_ccmux(read_text(target)) ? " (written by ccmux)" : " (your own)") << "\n";
  else if (!installed.empty())
    std::cout << "unit: " << installed << " (installed)\n";
  else
    std::cout << "unit: none (ccmux service install" << (o.scope == Scope::system ? " --system" : "") << " writes one)\n";
  std::string enabled, active;
  int rc_enabled = run(o, systemctl(o, {"is-enabled", kUnit}), &enabled);
  int rc_active = run(o, systemctl(o, {"is-active", kUnit}), &active);
  auto trim = [](std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? std::string("unknown") : s;
  };
  if (!o.root.empty()) return 0;
  std::cout << "enabled: " << trim(enabled) << "\nactive: " << trim(active) << "\n";
  return rc_enabled == 0 && rc_active == 0 ? 0 : 1;
}

ServiceCommand::ServiceCommand(CLI::App& app) {
  service_ = app.add_subcommand("service", "run ccmuxd as a systemd service (your user's by default)");
  service_->require_subcommand(1);
  install_ = service_->add_subcommand(
      "install", "enable ccmuxd's unit and start it (the installed one, else one written for the ccmuxd beside ccmux)");
  uninstall_ = service_->add_subcommand("uninstall", "stop and disable it; remove the unit if install wrote it");
  status_ = service_->add_subcommand("status", "which unit is used, whether it is enabled and running");
  for (auto* sc : {install_, uninstall_, status_}) {
    auto* u = sc->add_flag("--user", user_, "your user's service: systemctl --user (the default)");
    auto* s = sc->add_flag("--system", system_, "the system service (root): for a machine dedicated to ccmux");
    u->excludes(s);
    sc->add_option("--root", root_, "write files under this folder and print the systemctl commands instead of running them")
        ->type_name("DIR");
  }
}

int ServiceCommand::run() {
  if (!service_->parsed()) return -1;
  ServiceOptions o;
  o.scope = system_ ? Scope::system : Scope::user;
  o.root = root_.empty() ? "" : fs::absolute(root_).lexically_normal().string();
  while (o.root.size() > 1 && o.root.back() == '/') o.root.pop_back();
  o.self = self_exe();
  try {
    if (install_->parsed()) return service_install(o);
    if (uninstall_->parsed()) return service_uninstall(o);
    return service_status(o);
  } catch (const std::exception& e) {
    std::cerr << "ccmux service: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ccmux::cli
