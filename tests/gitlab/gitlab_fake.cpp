#include "gitlab_fake.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace ccmux::gitlab::test {

FakeGitLab::FakeGitLab(const std::string& token)
    : ScriptServer(std::string(CCMUX_SOURCE_DIR) + "/tests/fake_gitlab/fake_gitlab.py", {token}), token_(token) {}

namespace {
json control(int port, const std::string& method, const std::string& path, const json& body = nullptr) {
  HttpAnswer a = http_request(port, method, path, {{"Content-Type", "application/json"}}, body.is_null() ? "" : body.dump());
  if (a.status != 200) throw std::runtime_error("fake gitlab " + path + ": HTTP " + std::to_string(a.status) + " " + a.body);
  return json::parse(a.body);
}
}  // namespace

void FakeGitLab::seed(const json& data) { control(port(), "POST", "/control/seed", data); }
void FakeGitLab::fault(const json& spec) { control(port(), "POST", "/control/fault", spec); }
void FakeGitLab::reset() { control(port(), "POST", "/control/reset", json::object()); }
json FakeGitLab::calls() { return control(port(), "GET", "/control/calls"); }
json FakeGitLab::notes() { return control(port(), "GET", "/control/notes"); }

void FakeGitLab::seed_standard() {
  seed({
      {"projects", {{{"id", 5}, {"path_with_namespace", "grp/app"}, {"default_branch", "main"}}}},
      {"users", {{{"id", 7}, {"username", "alice"}, {"name", "Alice"}}, {{"id", 8}, {"username", "mallory"}}}},
      {"group_members", {{"grp", {7}}}},
      {"merge_requests",
       {{{"project_id", 5},
         {"iid", 1},
         {"title", "Add greeting"},
         {"description", "Says hello."},
         {"source_branch", "feature"},
         {"target_branch", "main"},
         {"author", {{"id", 7}, {"username", "alice"}, {"name", "Alice"}}},
         {"changes",
          {{{"old_path", "hello.txt"}, {"new_path", "hello.txt"}, {"diff", "@@ -1 +1 @@\n-hi\n+hello\n"},
            {"new_file", false}, {"renamed_file", false}, {"deleted_file", false}}}}}}},
      {"issues", {{{"project_id", 5}, {"iid", 3}, {"title", "Greeting is rude"}, {"description", "Say hello nicely."}}}},
      {"pipelines",
       {{{"project_id", 5},
         {"id", 31},
         {"status", "failed"},
         {"ref", "feature"},
         {"jobs",
          {{{"id", 380}, {"name", "unit"}, {"stage", "test"}, {"status", "failed"},
            {"trace", "Running tests\n\x1b[31mFAIL\x1b[0m test_greeting\nERROR: boom\n"}},
           {{"id", 381}, {"name", "lint"}, {"stage", "test"}, {"status", "success"}, {"trace", "ok\n"}}}}}}},
  });
}

std::string HttpAnswer::header(const std::string& lower_name) const {
  for (auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

HttpAnswer http_request(int port, const std::string& method, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                        int timeout_ms) {
  HttpAnswer out;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return out;
  }
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  bool has_length = false;
  for (auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    std::string lk = k;
    std::transform(lk.begin(), lk.end(), lk.begin(), [](unsigned char c) { return std::tolower(c); });
    has_length = has_length || lk == "content-length" || lk == "transfer-encoding";
  }
  if (!has_length && (!body.empty() || method == "POST")) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "Connection: close\r\n\r\n" + body;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto left = [&] {
    return static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count()));
  };
  size_t off = 0;
  while (off < req.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, left()) <= 0) break;
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413) and close before the body is all sent
    off += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left()) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
    // Done once the headers and Content-Length bytes are in (the server may keep the socket).
    size_t end = raw.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::string lower = raw.substr(0, end);
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      size_t cl = lower.find("\r\ncontent-length:");
      if (cl != std::string::npos && raw.size() >= end + 4 + std::stoul(lower.substr(cl + 17))) break;
    }
  }
  close(fd);
  size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos) return out;
  out.status = std::atoi(raw.c_str() + 9);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon), v = line.substr(colon + 1);
      std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      out.headers.emplace_back(k, v);
    }
    pos = eol + 2;
  }
  out.body = raw.substr(end + 4);
  return out;
}

HttpAnswer send_hook(int port, const std::string& secret, const std::string& event, const std::string& body,
                     const std::string& uuid, const std::string& path) {
  std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"},
                                                        {"User-Agent", "GitLab/17.0.0"}};
  if (!secret.empty()) h.emplace_back("X-Gitlab-Token", secret);
  if (!event.empty()) h.emplace_back("X-Gitlab-Event", event);
  if (!uuid.empty()) h.emplace_back("X-Gitlab-Event-UUID", uuid);
  return http_request(port, "POST", path, h, body);
}

namespace {
json sample_user(const std::string& username, int64_t id) {
  return {{"id", id}, {"name", username}, {"username", username}, {"avatar_url", nullptr}, {"email", "[REDACTED]"}};
}
json sample_project() {
  return {{"id", 5},
          {"name", "app"},
          {"description", nullptr},
          {"web_url", "http://gitlab.example/grp/app"},
          {"avatar_url", nullptr},
          {"git_ssh_url", "git@gitlab.example:grp/app.git"},
          {"git_http_url", "http://gitlab.example/grp/app.git"},
          {"namespace", "grp"},
          {"visibility_level", 0},
          {"path_with_namespace", "grp/app"},
          {"default_branch", "main"},
          {"ci_config_path", nullptr},
          {"homepage", "http://gitlab.example/grp/app"},
          {"url", "git@gitlab.example:grp/app.git"},
          {"ssh_url", "git@gitlab.example:grp/app.git"},
          {"http_url", "http://gitlab.example/grp/app.git"}};
}
json sample_mr(int64_t iid) {
  return {{"id", 1000 + iid},
          {"iid", iid},
          {"target_branch", "main"},
          {"source_branch", "feature"},
          {"source_project_id", 5},
          {"target_project_id", 5},
          {"author_id", 7},
          {"assignee_id", nullptr},
          {"title", "Add greeting"},
          {"created_at", "2026-12-01 10:00:00 UTC"},
          {"updated_at", "2026-12-01 10:05:00 UTC"},
          {"milestone_id", nullptr},
          {"state", "opened"},
          {"merge_status", "can_be_merged"},
          {"description", "Says hello."},
          {"position", 0},
          {"labels", json::array()},
          {"source", sample_project()},
          {"target", sample_project()},
          {"last_commit",
           {{"id", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
            {"message", "add greeting\n"},
            {"title", "add greeting"},
            {"timestamp", "2026-12-01T10:00:00+00:00"},
            {"url", "http://gitlab.example/grp/app/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
            {"author", {{"name", "Alice"}, {"email", "alice@example.com"}}}}},
          {"work_in_progress", false},
          {"draft", false},
          {"url", "http://gitlab.example/grp/app/-/merge_requests/" + std::to_string(iid)},
          {"detailed_merge_status", "mergeable"}};
}
}  // namespace

json sample_mr_note_hook(int64_t note_id, const std::string& text, int64_t mr_iid, const std::string& username,
                         int64_t user_id) {
  return {{"object_kind", "note"},
          {"event_type", "note"},
          {"user", sample_user(username, user_id)},
          {"project_id", 5},
          {"project", sample_project()},
          {"repository", {{"name", "app"}, {"url", "git@gitlab.example:grp/app.git"}, {"description", nullptr}, {"homepage", "http://gitlab.example/grp/app"}}},
          {"object_attributes",
           {{"attachment", nullptr},
            {"author_id", user_id},
            {"change_position", nullptr},
            {"commit_id", nullptr},
            {"created_at", "2026-12-01 10:10:00 UTC"},
            {"discussion_id", "6a9c1750b37d513a43987b574953fceb50b03ce7"},
            {"id", note_id},
            {"line_code", nullptr},
            {"note", text},
            {"noteable_id", 1000 + mr_iid},
            {"noteable_type", "MergeRequest"},
            {"original_position", nullptr},
            {"position", nullptr},
            {"project_id", 5},
            {"resolved_at", nullptr},
            {"resolved_by_id", nullptr},
            {"resolved_by_push", nullptr},
            {"st_diff", nullptr},
            {"system", false},
            {"type", nullptr},
            {"updated_at", "2026-12-01 10:10:00 UTC"},
            {"updated_by_id", nullptr},
            {"description", text},
            {"url", "http://gitlab.example/grp/app/-/merge_requests/" + std::to_string(mr_iid) + "#note_" + std::to_string(note_id)},
            {"action", "create"}}},
          {"merge_request", sample_mr(mr_iid)}};
}

json sample_issue_note_hook(int64_t note_id, const std::string& text, int64_t issue_iid, const std::string& username,
                            int64_t user_id) {
  json j = sample_mr_note_hook(note_id, text, 1, username, user_id);
  j.erase("merge_request");
  j["object_attributes"]["noteable_type"] = "Issue";
  j["object_attributes"]["noteable_id"] = 2000 + issue_iid;
  j["object_attributes"]["url"] = "http://gitlab.example/grp/app/-/issues/" + std::to_string(issue_iid) + "#note_" + std::to_string(note_id);
  j["issue"] = {{"id", 2000 + issue_iid},
                {"iid", issue_iid},
                {"title", "Greeting is rude"},
                {"description", "Say hello nicely."},
                {"state", "opened"},
                {"project_id", 5},
                {"author_id", 7},
                {"confidential", false},
                {"labels", json::array()},
                {"url", "http://gitlab.example/grp/app/-/issues/" + std::to_string(issue_iid)}};
  return j;
}

json sample_pipeline_hook(int64_t pipeline_id, const std::string& status, int64_t mr_iid, int64_t failed_job_id) {
  json mr = {{"id", 1000 + mr_iid},
             {"iid", mr_iid},
             {"title", "Add greeting"},
             {"source_branch", "feature"},
             {"source_project_id", 5},
             {"target_branch", "main"},
             {"target_project_id", 5},
             {"state", "opened"},
             {"merge_status", "can_be_merged"},
             {"detailed_merge_status", "mergeable"},
             {"url", "http://gitlab.example/grp/app/-/merge_requests/" + std::to_string(mr_iid)}};
  json build = [](int64_t id, const char* name, const char* st, const char* reason) {
    return json{{"id", id},
                {"stage", "test"},
                {"name", name},
                {"status", st},
                {"created_at", "2026-12-01 10:00:00 UTC"},
                {"started_at", "2026-12-01 10:00:01 UTC"},
                {"finished_at", "2026-12-01 10:01:00 UTC"},
                {"duration", 59.0},
                {"queued_duration", 1.0},
                {"failure_reason", reason ? json(reason) : json(nullptr)},
                {"when", "on_success"},
                {"manual", false},
                {"allow_failure", false},
                {"user", sample_user("alice", 7)},
                {"runner", nullptr},
                {"artifacts_file", {{"filename", nullptr}, {"size", nullptr}}},
                {"environment", nullptr}};
  }(failed_job_id, "unit", status == "failed" ? "failed" : "success", status == "failed" ? "script_failure" : nullptr);
  json ok_build = build;
  ok_build["id"] = failed_job_id + 1;
  ok_build["name"] = "lint";
  ok_build["status"] = "success";
  ok_build["failure_reason"] = nullptr;
  return {{"object_kind", "pipeline"},
          {"object_attributes",
           {{"id", pipeline_id},
            {"iid", 3},
            {"name", nullptr},
            {"ref", "feature"},
            {"tag", false},
            {"sha", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
            {"before_sha", "0000000000000000000000000000000000000000"},
            {"source", "merge_request_event"},
            {"status", status},
            {"detailed_status", status},
            {"stages", {"test"}},
            {"created_at", "2026-12-01 10:00:00 UTC"},
            {"finished_at", "2026-12-01 10:01:00 UTC"},
            {"duration", 60},
            {"queued_duration", 1},
            {"variables", json::array()},
            {"url", "http://gitlab.example/grp/app/-/pipelines/" + std::to_string(pipeline_id)}}},
          {"merge_request", mr},
          {"user", sample_user("alice", 7)},
          {"project", sample_project()},
          {"commit",
           {{"id", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
            {"message", "add greeting\n"},
            {"title", "add greeting"},
            {"timestamp", "2026-12-01T10:00:00+00:00"},
            {"url", "http://gitlab.example/grp/app/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
            {"author", {{"name", "Alice"}, {"email", "alice@example.com"}}}}},
          {"source_pipeline", nullptr},
          {"builds", {build, ok_build}}};
}

}  // namespace ccmux::gitlab::test
