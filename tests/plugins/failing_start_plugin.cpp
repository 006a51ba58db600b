// A plugin whose start() throws: the host reports it and goes on (unless required).
#include <ccmux/plugin.hpp>

#include <stdexcept>

class FailingStart : public ccmux::Plugin {
 public:
  void start(ccmux::Host&, std::string_view) override { throw std::runtime_error("cannot reach its backend"); }
};
CCMUX_PLUGIN(FailingStart, "failing_start", "0.0.1", "always fails to start", nullptr, 0)
