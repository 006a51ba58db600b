// Boundary: the user's Claude Code settings.json, rewritten by `ccmux hooks install` and
// restored by `uninstall`. The input is the file's bytes. What the README promises must
// hold for any file: install refuses a non-object (changing nothing) or installs all
// hooks; a second install changes nothing; uninstall right after gives back the original
// bytes. Thin on purpose: it calls the same functions as `ccmux hooks`.
#include "hook_command.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace fs = std::filesystem;
using namespace ccmux::cli;

namespace {
std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_all(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

[[noreturn]] void broken(const char* what, const std::string& original) {
  std::fprintf(stderr, "hooks install/uninstall: %s\noriginal settings.json (%zu bytes): %.400s\n", what,
               original.size(), original.c_str());
  std::abort();
}

const std::string& dir() {
  static const std::string d = [] {
    std::string base = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string();
    std::string tmpl = base + "/ccmux-fuzz-settings-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(dir(), ec);
    });
    return tmpl;
  }();
  return d;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::stringstream sink;
  std::cout.rdbuf(sink.rdbuf());  // the commands talk to a terminal; not here
  sink.str("");
  std::string original(reinterpret_cast<const char*>(data), size);
  HooksOptions o;
  o.settings_path = dir() + "/.claude/settings.json";
  o.ccmux_path = "/usr/local/bin/ccmux";
  o.hook_path = "/usr/local/bin/ccmux-hook";
  o.wait_s = 30;
  std::error_code ec;
  fs::remove_all(dir() + "/.claude", ec);
  fs::create_directories(dir() + "/.claude");
  write_all(o.settings_path, original);

  try {
    hooks_install(o);
  } catch (const std::runtime_error& e) {
    // Refused (not a JSON object): nothing may have changed.
    if (read_all(o.settings_path) != original) broken("a refused install changed the file", original);
    return 0;
  }
  std::string installed = read_all(o.settings_path);
  if (hooks_status(o, dir() + "/no-daemon.sock") != 0) broken("install did not install every hook", original);
  hooks_install(o);
  if (read_all(o.settings_path) != installed) broken("a second install changed the file", original);
  hooks_uninstall(o);
  if (!fs::exists(o.settings_path)) broken("uninstall removed a settings.json that existed before", original);
  if (read_all(o.settings_path) != original) broken("uninstall did not restore the original bytes", original);
  return 0;
}
