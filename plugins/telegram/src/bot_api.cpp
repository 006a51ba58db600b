#include "bot_api.h"

#include <ccmux/json_bounds.hpp>
#include <curl/curl.h>

namespace ccmux::telegram {

using nlohmann::json;

namespace {
size_t collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}
}  // namespace

BotApi::BotApi(std::string api_base, std::string token)
    : base_(std::move(api_base)), token_(std::move(token)), curl_(curl_easy_init()) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

BotApi::~BotApi() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string BotApi::redact(std::string s) const {
  for (size_t at; !token_.empty() && (at = s.find(token_)) != std::string::npos;) s.replace(at, token_.size(), "<bot token>");
  return s;
}

ApiResult BotApi::call(const std::string& method, const json& body, long timeout_s, const std::atomic<bool>* abort) {
  ApiResult r;
  auto* c = static_cast<CURL*>(curl_);
  if (!c) {
    r.error = "curl_easy_init failed";
    return r;
  }
  std::string url = base_ + "/bot" + token_ + "/" + method;
  std::string payload = body.dump(), response;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // a plugin thread must not get SIGALRM
  if (abort) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, abort);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, +[](void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
      return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
    });
  }
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    r.error = method + ": " + redact(errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return r;  // network: retried with backoff
  }
  json j = ccmux::sdk::parse_json_bounded(response);  // a deep answer is not an answer (and would overflow the stack)
  if (status == 429 || (j.is_object() && j.value("error_code", 0) == 429)) {
    r.kind = ApiResult::Kind::retry_after;
    r.retry_after_s = 1;
    if (j.is_object() && j.contains("parameters") && j["parameters"].is_object())
      r.retry_after_s = std::max(1, j["parameters"].value("retry_after", 1));
    r.error = method + ": 429 too many requests, retry after " + std::to_string(r.retry_after_s) + " s";
    return r;
  }
  if (status >= 500 || !j.is_object()) {
    r.error = method + ": HTTP " + std::to_string(status);
    return r;  // the server's trouble: retried
  }
  if (!j.value("ok", false)) {
    r.kind = ApiResult::Kind::rejected;
    r.error = method + ": " + redact(j.value("description", "HTTP " + std::to_string(status)));
    return r;
  }
  r.kind = ApiResult::Kind::ok;
  r.result = j.contains("result") ? j["result"] : json();
  return r;
}

}  // namespace ccmux::telegram
