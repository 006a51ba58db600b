// SDK 1.6: the calls plugins answer later (async methods, routed requests), by call id. The
// loop opens a call with the request's MethodDone; call_respond, from any thread, claims it
// at once (so a second answer, or another plugin's, is refused on the spot) and delivers the
// answer on the loop; a plugin that stops has its open calls answered with an error, so no
// client waits forever.
#pragma once

#include "protocol/method_registry.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ccmux {

class PendingCalls {
 public:
  // Loop thread: a call `plugin` is to answer; returns its id (> 0, unique in this daemon run).
  uint64_t open(const std::string& plugin, MethodDone done);
  // Any thread: true once for a call of `plugin` that is open and not yet claimed.
  bool claim(uint64_t call, const std::string& plugin);
  // Loop thread: delivers the answer and forgets the call (nothing when it is gone already).
  void answer(uint64_t call, bool ok, const nlohmann::json& body);
  // Loop thread: answers every open call of `plugin` with `error` ({code, message}).
  void fail_all(const std::string& plugin, const nlohmann::json& error);
  size_t open_count(const std::string& plugin) const;

 private:
  struct Entry {
    std::string plugin;
    MethodDone done;
    bool claimed = false;
  };
  mutable std::mutex mu_;  // claim() comes from plugin threads
  std::map<uint64_t, Entry> calls_;
  uint64_t next_ = 1;
};

}  // namespace ccmux
