// Stub: the client is being written (fix/gitlab-io); every call throws for now.
#include "gitlab_api.h"

namespace ccmux::gitlab {
struct GitLabApi::Handle {};
struct GitLabApi::Response {};
GitLabApi::GitLabApi(ApiConfig config) : cfg_(std::move(config)) {}
GitLabApi::~GitLabApi() = default;
void GitLabApi::stop() { stop_ = true; }
const char* kind_name(ErrorKind) { return "network"; }
static ApiError todo() { return ApiError(ErrorKind::network, 0, "gitlab api: not implemented yet"); }
Project GitLabApi::get_project(const std::string&) { throw todo(); }
std::vector<MergeRequest> GitLabApi::list_open_mrs(const std::string&, int) { throw todo(); }
MergeRequest GitLabApi::get_mr(const std::string&, int64_t) { throw todo(); }
MrChanges GitLabApi::get_mr_changes(const std::string&, int64_t, size_t) { throw todo(); }
std::vector<Issue> GitLabApi::list_open_issues(const std::string&, int) { throw todo(); }
Issue GitLabApi::get_issue(const std::string&, int64_t) { throw todo(); }
std::vector<Pipeline> GitLabApi::list_pipelines(const std::string&, int, const std::string&) { throw todo(); }
std::vector<Job> GitLabApi::list_pipeline_jobs(const std::string&, int64_t, bool) { throw todo(); }
std::string GitLabApi::job_trace_tail(const std::string&, int64_t, size_t) { throw todo(); }
std::vector<Note> GitLabApi::list_notes(const std::string&, Noteable, int64_t, int) { throw todo(); }
Note GitLabApi::create_note(const std::string&, Noteable, int64_t, const std::string&, const std::string&) { throw todo(); }
MergeRequest GitLabApi::create_mr(const std::string&, const std::string&, const std::string&, const std::string&,
                                  const std::string&) { throw todo(); }
std::optional<User> GitLabApi::find_user(const std::string&) { throw todo(); }
bool GitLabApi::is_group_member(const std::string&, int64_t) { throw todo(); }
bool GitLabApi::is_project_member(const std::string&, int64_t) { throw todo(); }
nlohmann::json GitLabApi::get(const std::string&, const Query&) { throw todo(); }
nlohmann::json GitLabApi::post(const std::string&, const nlohmann::json&) { throw todo(); }
std::string GitLabApi::encode(const std::string& s) { return s; }
bool GitLabApi::valid_marker(const std::string&) { return false; }
std::string GitLabApi::marker_comment(const std::string& m) { return "<!-- " + m + " -->"; }
}  // namespace ccmux::gitlab
