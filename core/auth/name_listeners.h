// Who hears that a credential (a token, a client certificate) was revoked: plugins' transports,
// which close the connections that used it. Each listener has an owner (a plugin name) so the
// listeners of a plugin that goes away can be dropped. Loop thread only.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ccmux {

class NameListeners {
 public:
  using Fn = std::function<void(const std::string& name)>;
  void add(Fn fn, const std::string& owner = "") { listeners_.emplace_back(owner, std::move(fn)); }
  void remove(const std::string& owner) {
    listeners_.erase(std::remove_if(listeners_.begin(), listeners_.end(), [&](auto& l) { return l.first == owner; }),
                     listeners_.end());
  }
  void notify(const std::string& name) const {
    auto copy = listeners_;  // a listener may add or remove listeners
    for (auto& [owner, fn] : copy) fn(name);
  }

 private:
  std::vector<std::pair<std::string, Fn>> listeners_;
};

}  // namespace ccmux
