// For tests of the gitlab plugin: the fake GitLab API (tests/fake_gitlab/fake_gitlab.py) as
// an object, a raw HTTP/1.1 client on 127.0.0.1, a webhook sender and sample hook payloads
// shaped as GitLab documents them (docs.gitlab.com/ee/user/project/integrations/webhook_events.html).
// Standalone (no core): the I/O tests and the plugin's e2e tests both link it.
#pragma once

#include "harness.h"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace ccmux::gitlab::test {

using nlohmann::json;

// python3 fake_gitlab.py TOKEN on a free port; killed when destroyed.
// python3 tests/fake_gitlab/fake_gitlab.py on 127.0.0.1 (a free port), as the harness's
// ScriptServer starts every fake service.
class FakeGitLab : public ccmux::test::ScriptServer {
 public:
  explicit FakeGitLab(const std::string& token = "glpat-test-token");
  const std::string& token() const { return token_; }

  void seed(const json& data);   // POST /control/seed (see fake_gitlab.py)
  void fault(const json& spec);  // POST /control/fault
  void reset();
  json calls();                  // every API call so far
  json notes();                  // every note there is
  // A project with an MR (iid 1, source "feature", target "main", one changed file), a
  // failed pipeline (id 31) with a failed job (id 380) whose log ends "ERROR: boom", users
  // alice (7, in group "grp") and mallory (8), project 5 "grp/app".
  void seed_standard();

 private:
  std::string token_;
};

struct HttpAnswer {
  int status = 0;             // 0: no answer (connection refused, reset, closed, timed out)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string header(const std::string& lower_name) const;
};

// One request on a new connection; waits at most timeout_ms for the whole answer.
HttpAnswer http_request(int port, const std::string& method, const std::string& target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {},
                        const std::string& body = "", int timeout_ms = 10000);

// A webhook delivery as GitLab sends it: POST with X-Gitlab-Token (when not empty),
// X-Gitlab-Event, X-Gitlab-Event-UUID and a JSON body.
HttpAnswer send_hook(int port, const std::string& secret, const std::string& event, const std::string& body,
                     const std::string& uuid = "", const std::string& path = "/gitlab/webhook");

// Sample payloads (project 5 "grp/app", user alice id 7 unless given).
json sample_mr_note_hook(int64_t note_id, const std::string& text, int64_t mr_iid = 1,
                         const std::string& username = "alice", int64_t user_id = 7);
json sample_issue_note_hook(int64_t note_id, const std::string& text, int64_t issue_iid = 3,
                            const std::string& username = "alice", int64_t user_id = 7);
json sample_pipeline_hook(int64_t pipeline_id, const std::string& status, int64_t mr_iid = 1,
                          int64_t failed_job_id = 380);

}  // namespace ccmux::gitlab::test
