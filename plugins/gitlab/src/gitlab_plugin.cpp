// gitlab: a comment "@ccmux <request>" on a merge request or an issue starts a session in a
// git worktree on its branch; the turn's work is committed (and pushed) and reported back as
// a note. A failed pipeline on a watched MR can start a fix session. README.md lists the keys.
//
// This file is the entry point only: the keys, and start/stop wiring the parts together —
// the GitLab API client, the webhook server and the listing methods (the I/O layer), and the
// Flow (flow.h) that turns events into sessions and turns into notes.
#include "flow.h"
#include "flow_config.h"
#include "gitlab_api.h"
#include "listings.h"
#include "webhook_server.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <memory>

namespace {

using nlohmann::json;
using namespace ccmux::gitlab;

using K = ccmux::ConfigKey;
const char* const kModes[] = {"default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"};
const char* const kOnRefused[] = {"note", "ignore"};
const ccmux_config_spec kKeys[] = {
    // GitLab's API and the webhook listener
    K::string("base_url", "GitLab's URL (self-hosted included); /api/v4 is added").def("https://gitlab.com"),
    K::string("token", "API token with the api scope (prefer token_env)"),
    K::string("token_env", "environment variable holding the API token").def("CCMUX_GITLAB_TOKEN"),
    K::string("listen", "address the webhook listener binds (0.0.0.0: every interface)").def("127.0.0.1"),
    K::integer("port", "webhook listener port (0: any free port, logged)").def("8091").range(0, 65535),
    K::string("webhook_path", "URL path GitLab posts webhooks to").def("/gitlab/webhook"),
    K::string("tls_cert", "PEM certificate: the webhook listener speaks HTTPS (with tls_key)"),
    K::string("tls_key", "PEM private key of tls_cert"),
    K::string("webhook_secret", "the webhook's secret token, checked against X-Gitlab-Token (prefer webhook_secret_env)"),
    K::string("webhook_secret_env", "environment variable holding the webhook secret").def("CCMUX_GITLAB_WEBHOOK_SECRET"),
    // What is watched, who may trigger, what happens to the work
    K::map("projects", "project id or path (group/app) -> absolute path of its local clone").required(),
    K::list("pipeline_fix", "projects whose failed merge request pipelines start a fix session"),
    K::string("model", "model of the sessions (default: the daemon's)"),
    K::map("models", "project -> model, overriding `model`"),
    K::string("permission_mode", "permission mode of the sessions (default: the daemon's)").choices(kModes),
    K::map("permission_modes", "project -> permission mode, overriding `permission_mode`"),
    // Quoted: a plain YAML scalar cannot start with @.
    K::string("trigger", "the word that calls ccmux in a comment").def("\"@ccmux\""),
    K::list("allowed_users", "GitLab usernames that may start sessions"),
    K::list("allowed_groups", "GitLab groups (id or path) whose members may start sessions"),
    K::integer("min_access_level", "lowest access level of a group member who may trigger (10 Guest .. 50 Owner)").def("30").range(10, 50),
    K::string("on_refused", "a request by someone not allowed: a polite note, or ignore it").def("note").choices(kOnRefused),
    K::boolean("push", "push the session's commits to the MR's branch (else they stay in the worktree)").def("false"),
    K::boolean("open_mr_for_issues", "open a merge request for an issue's branch after its first push").def("false"),
    K::string("page_url", "the web page's URL, for links to sessions in notes (e.g. https://my-box.lan:8420)"),
    K::string("commit_author", "\"Name <email>\" for commits when the clone has no git identity").def("ccmux <ccmux@localhost>"),
    K::integer("log_tail_lines", "lines of a failed job's log given to the fix session").def("80").range(5, 2000),
};

std::string secret_from(const json& cfg, const char* key, const char* env_key) {
  std::string v = cfg.value(key, "");
  std::string env = cfg.value(env_key, "");
  if (v.empty() && !env.empty() && std::getenv(env.c_str())) v = std::getenv(env.c_str());
  return v;
}

class GitLabPlugin : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    json cfg = json::parse(config_json);
    FlowConfig flow_cfg = FlowConfig::from_json(cfg);
    std::string token = secret_from(cfg, "token", "token_env");
    if (token.empty())
      throw std::runtime_error("gitlab: no API token: set token, or the environment variable " + cfg.value("token_env", ""));
    std::string secret = secret_from(cfg, "webhook_secret", "webhook_secret_env");
    if (secret.empty())
      throw std::runtime_error("gitlab: no webhook secret: set webhook_secret, or the environment variable " +
                               cfg.value("webhook_secret_env", "") + " (unsigned webhooks are never accepted)");
    // The I/O layer writes its lines as "gitlab: …" itself.
    auto log = [&host](int level, const std::string& line) { host.log(level, line); };

    ApiConfig api_cfg;
    api_cfg.base_url = cfg.value("base_url", "https://gitlab.com");
    api_cfg.token = token;
    api_cfg.log = log;
    api_ = std::make_shared<GitLabApi>(api_cfg);

    flow_ = std::make_unique<Flow>(host, flow_cfg, api_);
    flow_->start();

    ListingsConfig lc;
    for (auto& p : flow_cfg.projects) lc.allowed_projects.push_back(p.key);
    listings_ = std::make_unique<Listings>(host, api_, lc);
    listings_->register_methods();

    WebhookConfig wc;
    wc.listen_address = cfg.value("listen", "127.0.0.1");
    wc.port = cfg.value("port", 8091);
    wc.path = cfg.value("webhook_path", "/gitlab/webhook");
    wc.secret = secret;
    wc.tls_cert = cfg.value("tls_cert", "");
    wc.tls_key = cfg.value("tls_key", "");
    Flow* flow = flow_.get();
    server_ = std::make_unique<WebhookServer>(wc, [flow](WebhookDelivery&& d) { flow->on_delivery(std::move(d)); }, log);
    host.info("gitlab: webhooks on " + wc.listen_address + ":" + std::to_string(server_->port()) + wc.path + ", " +
              std::to_string(flow_cfg.projects.size()) + " project(s), trigger " + flow_cfg.trigger +
              (flow_cfg.push ? ", pushing" : ", not pushing (push: false)"));
  }

  void stop() override {
    if (server_) server_->stop();   // no new deliveries; the one being handled returns
    if (api_) api_->stop();         // calls in flight end at once
    if (listings_) listings_->stop();
    if (flow_) flow_->stop();       // joins the worker (git is aborted too)
  }

 private:
  std::shared_ptr<GitLabApi> api_;
  std::unique_ptr<Flow> flow_;
  std::unique_ptr<Listings> listings_;
  std::unique_ptr<WebhookServer> server_;
};

}  // namespace

CCMUX_PLUGIN(GitLabPlugin, "gitlab", "0.1.0", "sessions from GitLab merge requests, issues and failed pipelines", kKeys,
             sizeof(kKeys) / sizeof(kKeys[0]))
