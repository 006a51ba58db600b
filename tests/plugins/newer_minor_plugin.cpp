// A plugin built against a newer minor SDK than the host's: refused, "upgrade ccmuxd".
#include <ccmux/plugin_abi.h>

#include <boost/dll/alias.hpp>

namespace newer_minor {
int start(const ccmux_host_api*, const char*, size_t, void**, char*, size_t) { return 0; }
void stop(void*) {}
const ccmux_plugin_descriptor* get() {
  static const ccmux_plugin_descriptor d = {sizeof(ccmux_plugin_descriptor), CCMUX_SDK_VERSION_MAJOR,
                                            CCMUX_SDK_VERSION_MINOR + 1, 0x1, "newer_minor", "1.0.0",
                                            "built against a future minor", nullptr, 0, &start, &stop, nullptr, 0};
  return &d;
}
}  // namespace newer_minor
BOOST_DLL_ALIAS(newer_minor::get, ccmux_plugin_entry_v1)
