// A small Telegram Bot API client (libcurl): one call = one HTTPS POST of a JSON body to
// <api_base>/bot<token>/<method>. The token lives only in here and never reaches a log line
// or an error message (they name the method, never the URL).
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <string>

namespace ccmux::telegram {

struct ApiResult {
  enum class Kind { ok, network, retry_after, rejected } kind = Kind::network;
  nlohmann::json result;   // "result" of an ok answer
  int retry_after_s = 0;   // 429
  std::string error;       // what went wrong, token-free
};

class BotApi {
 public:
  BotApi(std::string api_base, std::string token);
  ~BotApi();
  BotApi(const BotApi&) = delete;
  BotApi& operator=(const BotApi&) = delete;
  // timeout_s covers long polls (getUpdates' own timeout plus a margin).
  // `abort` (optional) ends a call early, e.g. a long poll when the plugin stops.
  ApiResult call(const std::string& method, const nlohmann::json& body, long timeout_s = 15,
                 const std::atomic<bool>* abort = nullptr);

 private:
  std::string redact(std::string s) const;
  std::string base_, token_;
  void* curl_;  // CURL*, kept for connection reuse
};

}  // namespace ccmux::telegram
