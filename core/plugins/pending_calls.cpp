#include "plugins/pending_calls.h"

#include <vector>

namespace ccmux {

uint64_t PendingCalls::open(const std::string& plugin, MethodDone done) {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  calls_.emplace(id, Entry{plugin, std::move(done)});
  return id;
}

bool PendingCalls::claim(uint64_t call, const std::string& plugin) {
  std::lock_guard lock(mu_);
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.plugin != plugin || it->second.claimed) return false;
  it->second.claimed = true;
  return true;
}

void PendingCalls::answer(uint64_t call, bool ok, const nlohmann::json& body) {
  MethodDone done;
  {
    std::lock_guard lock(mu_);
    auto it = calls_.find(call);
    if (it == calls_.end()) return;
    done = std::move(it->second.done);
    calls_.erase(it);
  }
  if (done) done(ok, body);  // unlocked: the answer may open further calls
}

void PendingCalls::fail_all(const std::string& plugin, const nlohmann::json& error) {
  std::vector<MethodDone> failed;
  {
    std::lock_guard lock(mu_);
    for (auto it = calls_.begin(); it != calls_.end();)
      if (it->second.plugin == plugin) {
        failed.push_back(std::move(it->second.done));
        it = calls_.erase(it);
      } else {
        ++it;
      }
  }
  for (auto& done : failed)
    if (done) done(false, error);
}

size_t PendingCalls::open_count(const std::string& plugin) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (auto& [id, e] : calls_) n += e.plugin == plugin;
  return n;
}

}  // namespace ccmux
