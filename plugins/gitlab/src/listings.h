// The plugin's listing methods behind `ccmux gitlab mrs|pipelines|issues PROJECT`:
//   gitlab.mrs {project}        -> {"project":…, "status":"ready", "mrs":[{iid,title,author,source_branch,target_branch,web_url}]}
//   gitlab.pipelines {project}  -> {… "pipelines":[{id,status,ref,sha,source,created_at,web_url}]}
//   gitlab.issues {project}     -> {… "issues":[{iid,title,author,state,web_url}]}
//
// SDK 1.3 methods answer synchronously on the daemon's loop thread, which must never wait on
// GitLab. So a call never does network I/O: it answers from a short-lived cache that a worker
// thread of this object fills. The first call for a (kind, project) starts the fetch and
// answers {"status":"pending","retry_after_ms":N}; the caller asks again (the CLI polls with a
// deadline) and gets the list once it is there, or the fetch's error as a MethodError
// (codes: gitlab_unauthorized, gitlab_forbidden, gitlab_not_found, gitlab_rate_limited,
// gitlab_unavailable, gitlab_error; not_watched for a project not in the allowed list;
// bad_params). A result is served for `fresh_for` after it was fetched, then fetched anew.
#pragma once

#include "gitlab_api.h"

#include <ccmux/plugin.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ccmux::gitlab {

struct ListingsConfig {
  // Projects that may be listed (ids or paths, as in the plugin's config). A request must name
  // one as the config does (the same id, or the same path, case aside); any other name is
  // refused (not_watched) before any request to GitLab, so callers cannot spend the token's
  // rate limit or learn which private projects exist. Empty: none may be listed.
  std::vector<std::string> allowed_projects;
  int limit = 20;  // rows per list
  std::chrono::milliseconds fresh_for{5000};
  std::chrono::milliseconds retry_after{200};  // the hint in a "pending" answer
};

class Listings {
 public:
  // `api` is shared with the rest of the plugin; its stop() also ends a fetch in flight.
  Listings(Host& host, std::shared_ptr<GitLabApi> api, ListingsConfig config);
  ~Listings();  // stop()
  Listings(const Listings&) = delete;
  Listings& operator=(const Listings&) = delete;

  // Registers gitlab.mrs, gitlab.pipelines, gitlab.issues (start(), loop thread). False when
  // the host is older than SDK 1.3 or a name is taken (logged).
  bool register_methods();
  // Joins the worker (call api->stop() first so a fetch in flight ends at once). Idempotent;
  // of calls at once from several threads one joins, the others return at once.
  void stop();

  // What a method call answers (loop thread; exposed for tests). Throws MethodError.
  std::string answer(const std::string& kind, std::string_view params_json);

 private:
  struct Entry;
  void worker_loop();
  nlohmann::json fetch(const std::string& kind, const std::string& project);

  Host& host_;
  std::shared_ptr<GitLabApi> api_;
  ListingsConfig cfg_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Entry>> entries_;  // "kind\nproject"
  std::deque<std::string> todo_;                           // keys to fetch
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace ccmux::gitlab
