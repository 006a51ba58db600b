// A plugin that claims the next SDK major: the host must refuse it with a clear message.
#include <ccmux/plugin_abi.h>

#include <boost/dll/alias.hpp>

namespace wrong_abi {
int start(const ccmux_host_api*, const char*, size_t, void**, char*, size_t) { return 0; }
void stop(void*) {}
const ccmux_plugin_descriptor* get() {
  static const ccmux_plugin_descriptor d = {sizeof(ccmux_plugin_descriptor), CCMUX_SDK_VERSION_MAJOR + 1, 0,
                                            0x1234, "wrong_abi", "9.9.9", "built for a future SDK", nullptr, 0,
                                            &start, &stop, nullptr, 0};
  return &d;
}
}  // namespace wrong_abi
BOOST_DLL_ALIAS(wrong_abi::get, ccmux_plugin_entry_v1)
