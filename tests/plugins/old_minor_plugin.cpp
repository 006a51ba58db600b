// A plugin built against SDK 1.0 (before authenticate existed): still loads on a 1.x host.
#include <ccmux/plugin_abi.h>

#include <boost/dll/alias.hpp>

#include <string>

namespace old_minor {
int start(const ccmux_host_api* api, const char*, size_t, void**, char*, size_t) {
  // A 1.0 plugin only uses what 1.0 had, and checks the table's size before anything newer.
  std::string msg = "built for SDK 1.0, host table " + std::to_string(api->struct_size) + " bytes";
  api->log(api->host, CCMUX_LOG_INFO, msg.c_str());
  return 0;
}
void stop(void*) {}
const ccmux_plugin_descriptor* get() {
  static const ccmux_plugin_descriptor d = {sizeof(ccmux_plugin_descriptor), 1, 0, 0x5646a9cb1d60fddbULL,
                                            "old_minor", "1.0.0", "built against SDK 1.0", nullptr, 0, &start, &stop, nullptr, 0};
  return &d;
}
}  // namespace old_minor
BOOST_DLL_ALIAS(old_minor::get, ccmux_plugin_entry_v1)
