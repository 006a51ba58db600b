// Boundary: the YAML config (what `ccmuxd --config` and `--check-config` read). A bad file
// must end in a ConfigError naming file:line:col (ccmuxd catches only that one and exits 2);
// any other exception or a crash is a finding. Plugin entries are checked against the
// plugins built next to this target, as --check-config does.
#include "config/config.h"
#include "daemon/core.h"
#include "fuzz_daemon.h"
#include "plugins/plugin_host.h"

#include <dlfcn.h>

#include <cstdint>
#include <set>

using namespace ccmux;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  // Loaded once and never unloaded: libFuzzer's coverage counters of a library must not go away.
  for (const char* name : {"transport-ws", "approval", "telegram"})
    dlopen((std::string(CCMUX_FUZZ_PLUGIN_DIR) + "/lib" + name + ".so").c_str(), RTLD_NOW | RTLD_NODELETE);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::set<std::string> kBuilt = {"transport-ws", "approval", "telegram"};
  std::string yaml(reinterpret_cast<const char*>(data), size);
  Config cfg;
  try {
    cfg = parse_config(yaml, "fuzz.yaml");
  } catch (const ConfigError&) {
    return 0;  // the expected answer to a bad file
  }
  // Only our own plugin libraries get loaded, whatever path the input names.
  std::vector<PluginEntry> kept;
  for (auto& p : cfg.plugins)
    if (kBuilt.count(p.name)) {
      p.path.clear();
      p.search_dir = CCMUX_FUZZ_PLUGIN_DIR;
      kept.push_back(p);
    }
  cfg.plugins = kept;
  Core core;  // not opened: --check-config needs only the config
  core.config = cfg;
  PluginHost host(core);
  (void)host.check_all();
  return 0;
}
