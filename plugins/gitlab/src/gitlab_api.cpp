#include "gitlab_api.h"

#include "api_fields.h"
#include "utf8_text.h"

#include <ccmux/json_bounds.hpp>
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

namespace ccmux::gitlab {

using nlohmann::json;

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::unauthorized: return "unauthorized";
    case ErrorKind::forbidden: return "forbidden";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::rate_limited: return "rate_limited";
    case ErrorKind::client: return "client";
    case ErrorKind::server: return "server";
    case ErrorKind::network: return "network";
    case ErrorKind::bad_response: return "bad_response";
    case ErrorKind::stopped: return "stopped";
    case ErrorKind::invalid_argument: return "invalid_argument";
  }
  return "unknown";
}

// One curl easy handle; kept in the pool between calls so connections are reused.
struct GitLabApi::Handle {
  CURL* curl = curl_easy_init();
  ~Handle() { curl_easy_cleanup(curl); }
};

// One HTTP exchange as it happened.
struct GitLabApi::Response {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body;
  std::string retry_after;  // the header's value, when sent
  std::string curl_error;   // token-free
  bool too_big = false;     // cut at max_bytes (JSON) — refused
  size_t max_bytes = 0;
  bool keep_tail = false;   // a log: keep the last max_bytes instead of refusing more
  bool cut = false;         // the log's start was dropped
};

namespace {

// GitLab's error text: {"message": "..."} / {"message": {"field": ["..."]}} / {"error": "..."}.
std::string server_message(const std::string& body) {
  json j = ccmux::sdk::parse_json_bounded(body);
  std::string m;
  if (j.is_object()) {
    for (const char* key : {"message", "error_description", "error"}) {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) continue;
      m = it->is_string() ? it->get<std::string>() : it->dump(-1, ' ', false, json::error_handler_t::replace);
      break;
    }
  }
  if (m.empty()) {
    for (char c : body.substr(0, 200))
      if (std::isprint(static_cast<unsigned char>(c))) m += c;
  }
  if (m.size() > 300) m = utf8::prefix(m, 300) + "…";  // never inside a character: messages end up in JSON
  return m;
}

bool is_get(const std::string& method) { return method == "GET"; }

// Connection never made: the server cannot have processed the request.
bool surely_not_sent(CURLcode rc) {
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY;
}

// Retry-After in seconds: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00
// GMT"); 0 when absent, unreadable or past (the backoff decides then).
int parse_retry_after(const std::string& v) {
  size_t b = v.find_first_not_of(" \t\r\n"), e = v.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return 0;
  std::string s = v.substr(b, e - b + 1);
  if (std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return s.size() > 9 ? 1000000000 : std::atoi(s.c_str());
  if (s.size() > 64) return 0;
  time_t at = curl_getdate(s.c_str(), nullptr);
  if (at == -1) return 0;
  time_t now = std::time(nullptr);
  if (at <= now) return 0;
  return at - now > 1000000000 ? 1000000000 : static_cast<int>(at - now);
}

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* r = static_cast<GitLabApi::Response*>(user);
  size_t len = size * n;
  r->body.append(p, len);
  if (r->body.size() > r->max_bytes) {
    if (!r->keep_tail) {
      r->too_big = true;
      return 0;  // ends the transfer (CURLE_WRITE_ERROR)
    }
    // A log: keep a window of twice the tail so trimming is rare, and the last max_bytes at the end.
    if (r->body.size() > 2 * r->max_bytes) {
      r->body.erase(0, r->body.size() - r->max_bytes);
      r->cut = true;
    }
  }
  return len;
}

size_t on_header(char* p, size_t size, size_t n, void* user) {
  auto* r = static_cast<GitLabApi::Response*>(user);
  size_t len = size * n;
  std::string_view line(p, len);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string head(line.substr(0, kName.size()));
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    if (head == kName) r->retry_after = std::string(line.substr(kName.size()));
  }
  if (line.rfind("HTTP/", 0) == 0) r->retry_after.clear();  // a new response (after 100 Continue)
  return len;
}

int on_progress(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(stop)->load() ? 1 : 0;
}

}  // namespace

GitLabApi::GitLabApi(ApiConfig config) : cfg_(std::move(config)) {
  std::string base = cfg_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.size() >= 7 && base.compare(base.size() - 7, 7, "/api/v4") == 0) base.resize(base.size() - 7);
  api_root_ = base + "/api/v4";
  if (cfg_.max_attempts < 1) cfg_.max_attempts = 1;
}

GitLabApi::~GitLabApi() { stop(); }

void GitLabApi::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
}

void GitLabApi::log(int level, const std::string& line) const {
  if (cfg_.log) cfg_.log(level, redact(line));
}

std::string GitLabApi::redact(std::string s) const {
  const std::string& t = cfg_.token;
  for (size_t at; !t.empty() && (at = s.find(t)) != std::string::npos;) s.replace(at, t.size(), "<token>");
  return s;
}

std::unique_ptr<GitLabApi::Handle> GitLabApi::take_handle() {
  {
    std::lock_guard lock(mu_);
    if (!pool_.empty()) {
      auto h = std::move(pool_.back());
      pool_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void GitLabApi::give_back(std::unique_ptr<Handle> h) {
  std::lock_guard lock(mu_);
  if (pool_.size() < 4) pool_.push_back(std::move(h));
}

bool GitLabApi::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, d, [this] { return stop_.load(); });
  return !stop_.load();
}

std::chrono::milliseconds GitLabApi::backoff(int attempt) const {
  auto d = cfg_.backoff_initial;
  for (int i = 1; i < attempt && d < cfg_.backoff_max; ++i) d *= 2;
  return std::min(d, cfg_.backoff_max);
}

std::string GitLabApi::encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool GitLabApi::valid_marker(const std::string& m) {
  if (m.empty() || m.size() > 200 || m.find("--") != std::string::npos || m.back() == '-') return false;
  return std::all_of(m.begin(), m.end(), [](unsigned char c) {
    return std::isalnum(c) || c == ':' || c == '=' || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

std::string GitLabApi::marker_comment(const std::string& marker) { return "<!-- " + marker + " -->"; }

std::string GitLabApi::plain_text(std::string t) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '\x1b') {  // CSI: ESC [ params final-byte; other ESC x: two bytes
      if (i + 1 < t.size() && t[i + 1] == '[') {
        i += 2;
        while (i < t.size() && !(t[i] >= 0x40 && t[i] <= 0x7e)) ++i;
      } else ++i;
      continue;
    }
    if (c == '\r') {
      if (i + 1 < t.size() && t[i + 1] == '\n') continue;  // CRLF -> LF
      // A bare CR ends a section marker ("section_start:TS:NAME\r") or redraws a line: a line break.
      out += '\n';
      continue;
    }
    out += c;
  }
  // Drop the section markers themselves (now on lines of their own).
  std::string clean;
  clean.reserve(out.size());
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    size_t end = nl == std::string::npos ? out.size() : nl + 1;
    std::string_view line(out.data() + pos, end - pos);
    bool marker = line.rfind("section_start:", 0) == 0 || line.rfind("section_end:", 0) == 0;
    if (!marker) clean.append(line);
    pos = end;
  }
  return clean;
}

GitLabApi::Response GitLabApi::perform(const std::string& method, const std::string& path, const Query& query,
                                       const std::string* body, size_t max_bytes, bool keep_tail) {
  Response r;
  r.max_bytes = max_bytes;
  r.keep_tail = keep_tail;
  if (stop_) {
    r.rc = CURLE_ABORTED_BY_CALLBACK;
    return r;
  }
  auto h = take_handle();
  CURL* c = h->curl;
  if (!c) {
    r.rc = CURLE_FAILED_INIT;
    r.curl_error = "curl_easy_init failed";
    return r;
  }
  std::string url = api_root_ + path;
  for (size_t i = 0; i < query.size(); ++i)
    url += (i ? "&" : "?") + encode(query[i].first) + "=" + encode(query[i].second);
  std::string token_header = "PRIVATE-TOKEN: " + cfg_.token;
  curl_slist* headers = curl_slist_append(nullptr, token_header.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  if (body) headers = curl_slist_append(headers, "Content-Type: application/json");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  } else curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  (void)method;  // GET without a body, POST with one: the only two this client sends
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, cfg_.timeout_s);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, cfg_.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // a plugin thread must not get SIGALRM
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Never follow a redirect: the PRIVATE-TOKEN header would go along to wherever it points.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip etc. as the server likes
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stop_);
  r.rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  if (r.rc != CURLE_OK) r.curl_error = redact(errbuf[0] ? errbuf : curl_easy_strerror(r.rc));
  curl_easy_reset(c);  // drops the header list and buffers pointers before they go out of scope
  give_back(std::move(h));
  return r;
}

namespace {

// What one failed exchange means, before retries are decided.
struct Failure {
  ErrorKind kind;
  int status;
  std::string message;
  int retry_after_s = 0;
  bool ambiguous = false;  // the server may have processed it (a POST must not simply be re-sent)
};

}  // namespace

// The retry loop shared by every call. `already_done` (POSTs with an idempotency check) is
// asked after an ambiguous failure whether the first attempt landed after all.
json GitLabApi::request(const std::string& method, const std::string& path, const Query& query, const json* body,
                        const std::function<std::optional<json>()>& already_done) {
  const std::string what = method + " " + path;
  // replace: a caller's text cut mid-character (a log tail, a long reply) must not throw here.
  std::string payload = body ? body->dump(-1, ' ', false, json::error_handler_t::replace) : std::string();
  for (int attempt = 1;; ++attempt) {
    Response r = perform(method, path, query, body ? &payload : nullptr, cfg_.max_response_bytes);
    Failure f{ErrorKind::network, static_cast<int>(r.status), ""};
    if (r.rc == CURLE_ABORTED_BY_CALLBACK || stop_)
      throw ApiError(ErrorKind::stopped, 0, what + ": stopped (the plugin is stopping)");
    if (r.too_big) {
      throw ApiError(ErrorKind::bad_response, static_cast<int>(r.status),
                     what + ": answer larger than " + std::to_string(cfg_.max_response_bytes) + " bytes, refused");
    } else if (r.rc != CURLE_OK) {
      f = {ErrorKind::network, 0, what + ": " + r.curl_error, 0, !surely_not_sent(r.rc)};
    } else if (r.status >= 200 && r.status < 300) {
      std::string why;
      json j = r.body.empty() ? json(nullptr) : ccmux::sdk::parse_json_bounded(r.body, &why);
      if (j.is_discarded())
        throw ApiError(ErrorKind::bad_response, static_cast<int>(r.status), what + ": answer is not JSON (" + why + ")");
      return j;
    } else {
      std::string msg = redact(server_message(r.body));
      auto said = [&](const std::string& head) { return what + ": " + head + (msg.empty() ? "" : " (" + msg + ")"); };
      long s = r.status;
      if (s == 401) f = {ErrorKind::unauthorized, 401, said("401 token refused (check the token / token_env)")};
      else if (s == 403) f = {ErrorKind::forbidden, 403, said("403 forbidden: the token's user may not do this")};
      else if (s == 404) f = {ErrorKind::not_found, 404, said("404 no such project, merge request, issue, pipeline or job (or not visible to the token)")};
      else if (s == 409) f = {ErrorKind::conflict, 409, said("409 conflict")};
      else if (s == 429) {
        int after = parse_retry_after(r.retry_after);
        f = {ErrorKind::rate_limited, 429, said("429 too many requests, retry after " + std::to_string(after) + " s"), after};
      } else if (s >= 500) f = {ErrorKind::server, static_cast<int>(s), said("HTTP " + std::to_string(s) + " server error"), 0, true};
      else if (s >= 300 && s < 400)
        f = {ErrorKind::client, static_cast<int>(s), what + ": HTTP " + std::to_string(s) +
                                                         " redirect, not followed (set base_url to the final address, e.g. https://…)"};
      else f = {ErrorKind::client, static_cast<int>(s), said("HTTP " + std::to_string(s))};
    }

    // Retry? GETs: on 429, 5xx and network errors. POSTs: when surely not processed (429,
    // no connection), or after an ambiguous failure once already_done() says it did not land.
    bool transient = f.kind == ErrorKind::rate_limited || f.kind == ErrorKind::server || f.kind == ErrorKind::network;
    bool may_retry = transient && (is_get(method) || !f.ambiguous || already_done);
    if (!may_retry || attempt >= cfg_.max_attempts)
      throw ApiError(f.kind, f.status, f.message + (transient && attempt > 1 ? " (after " + std::to_string(attempt) + " attempts)" : ""),
                     f.retry_after_s);
    std::chrono::milliseconds wait = backoff(attempt);
    if (f.kind == ErrorKind::rate_limited) {
      if (f.retry_after_s > cfg_.max_retry_after_s)
        throw ApiError(f.kind, f.status, f.message + " (longer than max " + std::to_string(cfg_.max_retry_after_s) + " s: not waited for)",
                       f.retry_after_s);
      // GitLab's hint is a floor: the backoff still grows when it is short or missing.
      wait = std::max(wait, std::chrono::milliseconds(std::chrono::seconds(f.retry_after_s)));
    }
    log(2, "gitlab: " + f.message + "; retrying in " + std::to_string(wait.count()) + " ms (attempt " +
               std::to_string(attempt + 1) + " of " + std::to_string(cfg_.max_attempts) + ")");
    if (!sleep_for(wait)) throw ApiError(ErrorKind::stopped, 0, what + ": stopped (the plugin is stopping)");
    if (f.ambiguous && !is_get(method)) {
      // Did the first attempt land? Then it is the answer; posting again would double it.
      if (auto done = already_done()) {
        log(1, "gitlab: " + what + ": the earlier attempt was processed after all; not posting again");
        return *done;
      }
    }
  }
}

json GitLabApi::get(const std::string& path, const Query& query) { return request("GET", path, query, nullptr, {}); }

json GitLabApi::post(const std::string& path, const json& body) { return request("POST", path, {}, &body, {}); }

namespace {
std::string P(const std::string& project) { return "/projects/" + GitLabApi::encode(project); }
std::string limit_str(int limit) { return std::to_string(std::clamp(limit, 1, 100)); }
const char* noteable_path(Noteable on) { return on == Noteable::merge_request ? "/merge_requests/" : "/issues/"; }
}  // namespace

Project GitLabApi::get_project(const std::string& project) {
  return fields::project(get(P(project)), "project");
}

std::vector<MergeRequest> GitLabApi::list_open_mrs(const std::string& project, int limit) {
  json j = get(P(project) + "/merge_requests",
               {{"state", "opened"}, {"order_by", "updated_at"}, {"sort", "desc"}, {"per_page", limit_str(limit)}});
  return fields::list(j, "merge requests", fields::merge_request);
}

MergeRequest GitLabApi::get_mr(const std::string& project, int64_t iid) {
  return fields::merge_request(get(P(project) + "/merge_requests/" + std::to_string(iid)), "merge request");
}

namespace {
constexpr int kDiffsPerPage = 100;
constexpr int kMaxDiffPages = 20;  // 2000 files listed at most; the rest: MrChanges::truncated
}  // namespace

MrChanges GitLabApi::get_mr_changes(const std::string& project, int64_t iid, size_t max_diff_bytes) {
  const std::string mr_path = P(project) + "/merge_requests/" + std::to_string(iid);
  MrChanges out;
  std::vector<json> changes;
  // /diffs (GitLab 15.7+, paginated) replaces the deprecated /changes; older GitLab answers 404.
  json mr = get(mr_path);
  out.mr = fields::merge_request(mr, "merge request");
  bool old_gitlab = false;
  for (int page = 1; page <= kMaxDiffPages; ++page) {
    json j;
    try {
      j = get(mr_path + "/diffs", {{"page", std::to_string(page)}, {"per_page", std::to_string(kDiffsPerPage)}});
    } catch (const ApiError& e) {
      if (page == 1 && e.kind() == ErrorKind::not_found) {
        old_gitlab = true;
        break;
      }
      throw;
    }
    if (!j.is_array()) throw ApiError(ErrorKind::bad_response, 200, "merge request diffs: expected a JSON array, got " + std::string(j.type_name()));
    for (auto& d : j) {
      if (d.is_object() && fields::flag(d, "too_large", "merge request diffs")) out.truncated = true;
      changes.push_back(std::move(d));
    }
    if (j.size() < static_cast<size_t>(kDiffsPerPage)) break;
    if (page == kMaxDiffPages) out.truncated = true;  // more files than listed
  }
  if (old_gitlab) {
    json j = get(mr_path + "/changes");
    out.mr = fields::merge_request(j, "merge request changes");
    out.truncated = fields::flag(j, "overflow", "merge request changes");
    if (const json* c = fields::array_or_null(j, "changes", "merge request changes")) changes.assign(c->begin(), c->end());
  }
  size_t used = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    FileChange fc = fields::file_change(changes[i], "changes[" + std::to_string(i) + "]");
    if (used >= max_diff_bytes) {
      if (!fc.diff.empty()) fc.diff_truncated = true, out.truncated = true;
      fc.diff.clear();
    } else if (used + fc.diff.size() > max_diff_bytes) {
      size_t keep = max_diff_bytes - used;
      size_t nl = fc.diff.rfind('\n', keep);
      fc.diff = nl != std::string::npos && nl > 0 ? fc.diff.substr(0, nl + 1) : utf8::prefix(fc.diff, keep);
      fc.diff_truncated = out.truncated = true;
    }
    used += fc.diff.size();
    out.files.push_back(std::move(fc));
  }
  return out;
}

std::vector<Issue> GitLabApi::list_open_issues(const std::string& project, int limit) {
  json j = get(P(project) + "/issues",
               {{"state", "opened"}, {"order_by", "updated_at"}, {"sort", "desc"}, {"per_page", limit_str(limit)}});
  return fields::list(j, "issues", fields::issue);
}

Issue GitLabApi::get_issue(const std::string& project, int64_t iid) {
  return fields::issue(get(P(project) + "/issues/" + std::to_string(iid)), "issue");
}

std::vector<Pipeline> GitLabApi::list_pipelines(const std::string& project, int limit, const std::string& ref) {
  Query q{{"order_by", "id"}, {"sort", "desc"}, {"per_page", limit_str(limit)}};
  if (!ref.empty()) q.emplace_back("ref", ref);
  return fields::list(get(P(project) + "/pipelines", q), "pipelines", fields::pipeline);
}

std::vector<Job> GitLabApi::list_pipeline_jobs(const std::string& project, int64_t pipeline_id, bool failed_only) {
  Query q{{"per_page", "100"}};
  if (failed_only) q.emplace_back("scope[]", "failed");
  return fields::list(get(P(project) + "/pipelines/" + std::to_string(pipeline_id) + "/jobs", q), "jobs", fields::job);
}

std::string GitLabApi::job_trace_tail(const std::string& project, int64_t job_id, size_t tail_bytes) {
  return text_request(P(project) + "/jobs/" + std::to_string(job_id) + "/trace", tail_bytes);
}

// A text answer (a job log), of which only the last max_bytes are kept; retried like a GET.
std::string GitLabApi::text_request(const std::string& path, size_t max_bytes) {
  const std::string what = "GET " + path;
  for (int attempt = 1;; ++attempt) {
    Response r = perform("GET", path, {}, nullptr, max_bytes, /*keep_tail=*/true);
    if (r.rc == CURLE_ABORTED_BY_CALLBACK || stop_) throw ApiError(ErrorKind::stopped, 0, what + ": stopped (the plugin is stopping)");
    if (r.rc == CURLE_OK && r.status >= 200 && r.status < 300) {
      std::string& t = r.body;
      if (t.size() > max_bytes) {
        t.erase(0, t.size() - max_bytes);
        r.cut = true;
      }
      if (r.cut) {
        // Start at a line when one begins in the first quarter (a cut line helps nobody),
        // else at least at a character.
        size_t nl = t.find('\n');
        t.erase(0, nl != std::string::npos && nl < max_bytes / 4 ? nl + 1 : utf8::suffix_start(t, 0));
      }
      // A log is whatever bytes the job printed: made valid UTF-8 so it can go into JSON.
      return utf8::repaired(t);
    }
    ErrorKind kind = r.rc != CURLE_OK ? ErrorKind::network
                     : r.status == 401 ? ErrorKind::unauthorized
                     : r.status == 403 ? ErrorKind::forbidden
                     : r.status == 404 ? ErrorKind::not_found
                     : r.status == 429 ? ErrorKind::rate_limited
                     : r.status >= 500 ? ErrorKind::server
                                       : ErrorKind::client;
    std::string msg = what + ": " +
                      (r.rc != CURLE_OK ? r.curl_error
                                        : "HTTP " + std::to_string(r.status) +
                                              (kind == ErrorKind::unauthorized ? " token refused (check the token / token_env)"
                                               : kind == ErrorKind::not_found  ? " no such job (or not visible to the token)"
                                                                                : ""));
    bool transient = kind == ErrorKind::network || kind == ErrorKind::server || kind == ErrorKind::rate_limited;
    int after = kind == ErrorKind::rate_limited ? parse_retry_after(r.retry_after) : 0;
    if (!transient || attempt >= cfg_.max_attempts || after > cfg_.max_retry_after_s) throw ApiError(kind, static_cast<int>(r.status), msg, after);
    auto wait = std::max(backoff(attempt), std::chrono::milliseconds(std::chrono::seconds(after)));
    log(2, "gitlab: " + msg + "; retrying in " + std::to_string(wait.count()) + " ms (attempt " + std::to_string(attempt + 1) +
               " of " + std::to_string(cfg_.max_attempts) + ")");
    if (!sleep_for(wait)) throw ApiError(ErrorKind::stopped, 0, what + ": stopped (the plugin is stopping)");
  }
}

std::vector<Note> GitLabApi::list_notes(const std::string& project, Noteable on, int64_t iid, int limit) {
  json j = get(P(project) + noteable_path(on) + std::to_string(iid) + "/notes",
               {{"order_by", "created_at"}, {"sort", "desc"}, {"per_page", limit_str(limit)}});
  return fields::list(j, "notes", fields::note);
}

Note GitLabApi::create_note(const std::string& project, Noteable on, int64_t iid, const std::string& body,
                            const std::string& marker) {
  const std::string path = P(project) + noteable_path(on) + std::to_string(iid) + "/notes";
  if (marker.empty()) return fields::note(post(path, json{{"body", body}}), "note");
  if (!valid_marker(marker))
    throw ApiError(ErrorKind::invalid_argument, 0,
                   "POST " + path + ": marker '" + marker + "' is not letters, digits and \":=._/-\" (no \"--\", at most 200)");
  const std::string tag = marker_comment(marker);
  const int64_t my_id = current_user().id;
  auto existing = [&]() -> std::optional<json> {
    json notes = get(P(project) + noteable_path(on) + std::to_string(iid) + "/notes",
                     {{"order_by", "created_at"}, {"sort", "desc"}, {"per_page", "100"}});
    if (!notes.is_array()) return std::nullopt;
    for (const json& n : notes) {
      if (!n.is_object() || !n.contains("body") || !n["body"].is_string() ||
          n["body"].get_ref<const std::string&>().find(tag) == std::string::npos)
        continue;
      // The marker is predictable: one planted by someone else must not silence ours.
      const json* author = n.contains("author") && n["author"].is_object() ? &n["author"] : nullptr;
      if (author && author->contains("id") && (*author)["id"].is_number_integer() && (*author)["id"].get<int64_t>() == my_id)
        return n;
    }
    return std::nullopt;
  };
  // A note already posted for this marker (an earlier call, a redelivery) is the answer.
  if (auto done = existing()) {
    log(1, "gitlab: POST " + path + ": a note with " + tag + " is there already; not posting again");
    return fields::note(*done, "note");
  }
  json sent{{"body", body + "\n\n" + tag}};
  return fields::note(request("POST", path, {}, &sent, existing), "note");
}

MergeRequest GitLabApi::create_mr(const std::string& project, const std::string& source_branch,
                                  const std::string& target_branch, const std::string& title,
                                  const std::string& description) {
  auto existing = [&]() -> std::optional<json> {
    json mrs = get(P(project) + "/merge_requests",
                   {{"state", "opened"}, {"source_branch", source_branch}, {"target_branch", target_branch}});
    if (mrs.is_array() && !mrs.empty()) return mrs[0];
    return std::nullopt;
  };
  json body{{"source_branch", source_branch}, {"target_branch", target_branch}, {"title", title}, {"description", description}};
  try {
    return fields::merge_request(request("POST", P(project) + "/merge_requests", {}, &body, existing), "merge request");
  } catch (const ApiError& e) {
    if (e.kind() != ErrorKind::conflict) throw;
    if (auto mr = existing()) return fields::merge_request(*mr, "merge request");
    throw;
  }
}

User GitLabApi::current_user() {
  {
    std::lock_guard lock(mu_);
    if (me_) return *me_;
  }
  User u = fields::user(get("/user"), "user");  // two threads may both ask once: harmless
  std::lock_guard lock(mu_);
  if (!me_) me_ = u;
  return *me_;
}

std::optional<User> GitLabApi::find_user(const std::string& username) {
  json j = get("/users", {{"username", username}});
  auto users = fields::list(j, "users", fields::user);
  for (auto& u : users) {
    std::string a = u.username, b = username;
    std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
    std::transform(b.begin(), b.end(), b.begin(), [](unsigned char c) { return std::tolower(c); });
    if (a == b) return u;
  }
  return std::nullopt;
}

bool GitLabApi::is_group_member(const std::string& group, int64_t user_id, int min_access_level) {
  try {
    json j = get("/groups/" + encode(group) + "/members/all/" + std::to_string(user_id));
    return fields::member_active(j, "group member", min_access_level);
  } catch (const ApiError& e) {
    if (e.kind() == ErrorKind::not_found) return false;
    throw;
  }
}

bool GitLabApi::is_project_member(const std::string& project, int64_t user_id, int min_access_level) {
  try {
    json j = get(P(project) + "/members/all/" + std::to_string(user_id));
    return fields::member_active(j, "project member", min_access_level);
  } catch (const ApiError& e) {
    if (e.kind() == ErrorKind::not_found) return false;
    throw;
  }
}

}  // namespace ccmux::gitlab
