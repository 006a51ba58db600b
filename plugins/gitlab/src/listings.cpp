#include "listings.h"

#include <ccmux/json_bounds.hpp>

#include <algorithm>
#include <cctype>

namespace ccmux::gitlab {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Listings::Entry {
  enum class State { fetching, ready, failed } state = State::fetching;
  json result;
  std::string code, message;  // failed
  Clock::time_point done_at;
};

namespace {

constexpr size_t kMaxEntries = 64;  // (kind, project) pairs remembered; callers choose the project

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool numeric(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// The project as an allowed entry names it: by id, or by path (GitLab paths are case-insensitive).
bool names(const std::string& entry, const Project& p) {
  return numeric(entry) ? entry == std::to_string(p.id) : lower(entry) == lower(p.path_with_namespace);
}

std::string error_code(ErrorKind k) {
  switch (k) {
    case ErrorKind::unauthorized: return "gitlab_unauthorized";
    case ErrorKind::forbidden: return "gitlab_forbidden";
    case ErrorKind::not_found: return "gitlab_not_found";
    case ErrorKind::rate_limited: return "gitlab_rate_limited";
    case ErrorKind::server:
    case ErrorKind::network: return "gitlab_unavailable";
    case ErrorKind::stopped: return "gitlab_stopped";
    default: return "gitlab_error";
  }
}

// Thrown by fetch() for a project that is not in the allowed list.
struct NotWatched {
  std::string project;
};

json user_json(const User& u) { return u.username; }

std::string not_watched_message(const std::string& project) {
  return "project '" + project + "' is not one of the gitlab plugin's projects (key: projects; name it as the config does)";
}

}  // namespace

Listings::Listings(Host& host, std::shared_ptr<GitLabApi> api, ListingsConfig config)
    : host_(host), api_(std::move(api)), cfg_(std::move(config)) {
  worker_ = std::thread([this] { worker_loop(); });
}

Listings::~Listings() { stop(); }

bool Listings::register_methods() {
  bool ok = true;
  for (const char* kind : {"mrs", "pipelines", "issues"}) {
    std::string k = kind;
    ok = host_.register_method("gitlab." + k, [this, k](const Host::Call& c) { return answer(k, c.params_json); }) && ok;
  }
  if (!ok) host_.warn("gitlab: could not register the gitlab.mrs/pipelines/issues methods (SDK older than 1.3, or a name is taken)");
  return ok;
}

void Listings::stop() {
  std::thread worker;
  {
    // Taken out under the lock: of two stop() calls at once only one gets the thread to join
    // (both joining it would throw std::system_error).
    std::lock_guard lock(mu_);
    stopping_ = true;
    worker = std::move(worker_);
  }
  cv_.notify_all();
  if (worker.joinable()) worker.join();
}

std::string Listings::answer(const std::string& kind, std::string_view params_json) {
  std::string why;
  json params = ccmux::sdk::parse_json_bounded(params_json, &why, 8);
  if (!params.is_object()) throw MethodError("bad_params", "params must be an object {\"project\": ID or PATH}");
  auto it = params.find("project");
  std::string project;
  if (it != params.end() && it->is_string()) project = it->get<std::string>();
  else if (it != params.end() && it->is_number_integer()) project = std::to_string(it->get<int64_t>());
  if (project.empty() || project.size() > 255)
    throw MethodError("bad_params", "parameter 'project' must be a project id or path (e.g. group/app)");
  if (cfg_.allowed_projects.empty())
    throw MethodError("not_watched", "no GitLab projects are configured for the gitlab plugin (key: projects)");
  // Decided here, without asking GitLab (see ListingsConfig::allowed_projects).
  if (!std::any_of(cfg_.allowed_projects.begin(), cfg_.allowed_projects.end(),
                   [&](const std::string& a) { return numeric(a) ? a == project : lower(a) == lower(project); }))
    throw MethodError("not_watched", not_watched_message(project));

  const std::string key = kind + "\n" + project;
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  if (stopping_) throw MethodError("gitlab_stopped", "the gitlab plugin is stopping");
  auto& slot = entries_[key];
  if (slot && slot->state != Entry::State::fetching && now - slot->done_at < cfg_.fresh_for) {
    if (slot->state == Entry::State::failed) throw MethodError(slot->code, slot->message);
    return slot->result.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (!slot || slot->state != Entry::State::fetching) {
    // Room for a new fetch: forget answers that are stale anyway.
    if (entries_.size() > kMaxEntries) {
      for (auto e = entries_.begin(); e != entries_.end();) {
        bool stale = e->second && e->second->state != Entry::State::fetching && now - e->second->done_at >= cfg_.fresh_for;
        e = stale && e->first != key ? entries_.erase(e) : std::next(e);
      }
      if (entries_.size() > kMaxEntries) {
        entries_.erase(key);
        throw MethodError("busy", "too many GitLab listings in progress; try again in a moment");
      }
    }
    slot = std::make_shared<Entry>();
    todo_.push_back(key);
    cv_.notify_one();
  }
  return json{{"project", project}, {"status", "pending"}, {"retry_after_ms", cfg_.retry_after.count()}}.dump();
}

void Listings::worker_loop() {
  for (;;) {
    std::string key;
    std::shared_ptr<Entry> entry;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !todo_.empty(); });
      if (stopping_) return;
      key = todo_.front();
      todo_.pop_front();
      entry = entries_[key];
      if (!entry) entry = entries_[key] = std::make_shared<Entry>();
    }
    size_t nl = key.find('\n');
    std::string kind = key.substr(0, nl), project = key.substr(nl + 1);
    json result;
    std::string code, message;
    try {
      result = fetch(kind, project);
    } catch (const NotWatched& n) {
      code = "not_watched";
      message = not_watched_message(n.project);
    } catch (const ApiError& e) {
      code = error_code(e.kind());
      message = e.what();
    } catch (const std::exception& e) {
      code = "gitlab_error";
      message = e.what();
    }
    std::lock_guard lock(mu_);
    entry->done_at = Clock::now();
    entry->state = code.empty() ? Entry::State::ready : Entry::State::failed;
    entry->result = std::move(result);
    entry->code = std::move(code);
    entry->message = std::move(message);
  }
}

json Listings::fetch(const std::string& kind, const std::string& project) {
  // answer() let only configured names through; the project GitLab finds must be one of them too.
  Project p = api_->get_project(project);
  if (!std::any_of(cfg_.allowed_projects.begin(), cfg_.allowed_projects.end(), [&](const std::string& a) { return names(a, p); }))
    throw NotWatched{project};
  json out{{"project", p.path_with_namespace}, {"project_id", p.id}, {"web_url", p.web_url}, {"status", "ready"}};
  const std::string id = std::to_string(p.id);
  if (kind == "mrs") {
    json rows = json::array();
    for (auto& m : api_->list_open_mrs(id, cfg_.limit))
      rows.push_back({{"iid", m.iid}, {"title", m.title}, {"author", user_json(m.author)}, {"state", m.state},
                      {"source_branch", m.source_branch}, {"target_branch", m.target_branch}, {"web_url", m.web_url}});
    out["mrs"] = std::move(rows);
  } else if (kind == "pipelines") {
    json rows = json::array();
    for (auto& pl : api_->list_pipelines(id, cfg_.limit))
      rows.push_back({{"id", pl.id}, {"status", pl.status}, {"ref", pl.ref}, {"sha", pl.sha}, {"source", pl.source},
                      {"created_at", pl.created_at}, {"web_url", pl.web_url}});
    out["pipelines"] = std::move(rows);
  } else {
    json rows = json::array();
    for (auto& i : api_->list_open_issues(id, cfg_.limit))
      rows.push_back({{"iid", i.iid}, {"title", i.title}, {"author", user_json(i.author)}, {"state", i.state},
                      {"web_url", i.web_url}});
    out["issues"] = std::move(rows);
  }
  return out;
}

}  // namespace ccmux::gitlab
