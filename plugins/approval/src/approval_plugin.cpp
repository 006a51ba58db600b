// approval: learned auto-approval with autonomy levels.
//   0 observe   learn from human decisions, decide nothing
//   1 suggest   also attach "would allow: <evidence>" hints to approvals a human answers
//   2 auto      approve read-only tools inside the cwd (paths resolved: symlinks, "..", "~") and
//               learned-safe patterns
//   3 trust     approve everything the Lua policies did not deny
// Lua policies run first (core), so a Lua deny is never overridden here.
#include "learner.h"
#include "pattern.h"

#include <ccmux/plugin.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>

namespace {

using nlohmann::json;
using namespace ccmux::approval;

using K = ccmux::ConfigKey;
const ccmux_config_spec kKeys[] = {
    K::integer("level", "autonomy 0-3; `ccmux autonomy N` changes it live").def("1").range(0, 3),
    K::integer("min_approvals", "human approvals since the last denial before a pattern is auto-approved")
        .def("3")
        .range(1, 1000000),
    K::number("min_confidence", "approvals / (approvals + denials) a pattern needs").def("0.9").range(0, 1),
    K::list("never_learn", "patterns never learned, e.g. 'rm', 'git push', 'Bash:curl'")
        .def("[rm, sudo, su, dd, mkfs, chmod, chown, curl, wget, ssh, scp, rsync, kill, pkill, killall, shutdown, "
             "reboot, git push, git reset, git clean, git checkout, npm publish, docker rm]"),
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool human(const std::string& decided_by) { return decided_by.rfind("client:", 0) == 0; }

std::string example_of(const json& a) {
  const json& in = a.value("input", json::object());
  for (const char* k : {"command", "file_path"})
    if (in.is_object() && in.contains(k) && in[k].is_string()) return in[k].get<std::string>();
  return in.dump().substr(0, 200);
}

class ApprovalPlugin : public ccmux::Plugin {
 public:
  void start(ccmux::Host& host, std::string_view config_json) override {
    host_ = &host;
    auto cfg = json::parse(config_json);
    level_ = cfg.at("level");  // the host checked every key against kKeys and filled in defaults
    learner_ = std::make_unique<Learner>(cfg.at("min_approvals").get<int64_t>(), cfg.at("min_confidence").get<double>(),
                                         cfg.at("never_learn").get<std::set<std::string>>());
    if (auto saved = host.kv_get("patterns")) learner_->load(json::parse(*saved, nullptr, false));
    if (auto saved = host.kv_get("level")) level_ = std::stoi(*saved);  // `ccmux autonomy N` outlives restarts

    host.register_approval_provider("learned", [this](std::string_view req) { return decide(req); });
    host.register_escalation_channel("learner", [this](std::string_view msg) { observe(msg); });
    client_ = host.open_client("approval", [](std::string_view) {});
    host.client_send(client_, R"({"type":"hello","protocol":1,"client":"approval-plugin"})");
    register_methods(host);
    host.info("autonomy level " + std::to_string(level_) + ", " + std::to_string(learner_->listing().size()) +
              " learned patterns");
  }

 private:
  ccmux::Verdict decide(std::string_view request_text) {
    ccmux::Verdict v;
    json req = json::parse(request_text, nullptr, false);
    if (!req.is_object()) return v;
    std::string tool = req.value("tool", ""), cwd = req.value("cwd", "");
    auto p = pattern_of(tool, req.value("input", json::object()), cwd);
    auto evidence = p ? learner_->earned(p->key) : std::nullopt;
    if (level_ == 3) {
      v.decision = ccmux::Decision::allow;
      v.reason = "autonomy 3: allowed (no policy denied it)" + (p ? "; pattern " + p->key : std::string());
    } else if (level_ == 2 && p && p->read_only && learner_->learnable(p->key)) {
      v.decision = ccmux::Decision::allow;
      v.reason = "autonomy 2: read-only tool inside the session folder (" + p->key + ")";
    } else if (level_ == 2 && evidence) {
      v.decision = ccmux::Decision::allow;
      v.reason = "autonomy 2: " + *evidence;
    } else if (level_ == 1 && evidence) {
      v.decision = ccmux::Decision::ask;  // a hint for the human, not a decision
      v.reason = "would allow at autonomy 2: " + *evidence;
    }
    return v;
  }

  // Escalation channel: sees every approval a human is asked, and how it ended.
  void observe(std::string_view msg) {
    json m = json::parse(msg, nullptr, false);
    if (!m.is_object() || !m.contains("approval")) return;
    const json& a = m["approval"];
    std::string type = m.value("type", ""), id = a.value("id", "");
    if (type == "approval_requested") {
      pending_[id] = a;
      return;
    }
    if (type != "approval_resolved") return;
    pending_.erase(id);
    if (a.value("kind", "") != "tool" || !human(a.value("decided_by", ""))) return;
    std::string decision = a.value("decision", "");
    if (decision != "allow" && decision != "deny") return;
    auto p = pattern_of(a.value("tool", ""), a.value("input", json::object()), a.value("cwd", ""));
    if (!p) return;  // compound shell lines and paths outside the project are never learned
    learner_->record(p->key, decision == "allow", now_ms(), example_of(a));
    save();
  }

  void save() { host_->kv_set("patterns", learner_->to_json().dump()); }

  void register_methods(ccmux::Host& host) {
    host.register_method("autonomy.get", [this](const ccmux::Host::Call&) { return json{{"level", level_}}.dump(); });
    host.register_method("autonomy.set", [this](const ccmux::Host::Call& c) {
      json p = json::parse(c.params_json, nullptr, false);
      if (!p.is_object() || !p.contains("level") || !p["level"].is_number_integer() || p["level"] < 0 || p["level"] > 3)
        throw ccmux::MethodError("bad_params", "level must be 0, 1, 2 or 3");
      int level = p["level"];
      // Anyone with a token may lower autonomy; raising it is for the machine's owner.
      if (level > level_ && !c.trusted)
        throw ccmux::MethodError("forbidden", "raising autonomy is allowed over the local socket only");
      host_->info("autonomy " + std::to_string(level_) + " -> " + std::to_string(level) + " by " + std::string(c.caller));
      level_ = level;
      host_->kv_set("level", std::to_string(level));
      return json{{"level", level_}}.dump();
    });
    host.register_method("approval.learned",
                         [this](const ccmux::Host::Call&) { return json{{"level", level_}, {"patterns", learner_->listing()}}.dump(); });
    host.register_method("approval.forget", [this](const ccmux::Host::Call& c) {
      json p = json::parse(c.params_json, nullptr, false);
      std::string key = p.is_object() ? p.value("pattern", "") : "";
      if (key.empty()) throw ccmux::MethodError("bad_params", "missing string parameter 'pattern'");
      bool gone = learner_->forget(key);
      if (gone) save();
      return json{{"forgotten", gone}, {"pattern", key}}.dump();
    });
    // "Always allow this pattern" (Telegram button, page): learn it as always, then allow.
    host.register_method("approval.always", [this](const ccmux::Host::Call& c) {
      json p = json::parse(c.params_json, nullptr, false);
      std::string id = p.is_object() ? p.value("id", "") : "";
      auto it = pending_.find(id);
      if (it == pending_.end()) throw ccmux::MethodError("not_found", "no pending approval " + id);
      const json& a = it->second;
      auto pat = pattern_of(a.value("tool", ""), a.value("input", json::object()), a.value("cwd", ""));
      if (!pat || !learner_->learnable(pat->key))
        throw ccmux::MethodError("not_learnable",
                                 "this call cannot become a pattern (compound shell line, a path outside the project, "
                                 "a destructive or exec-like command, or a never_learn pattern); answer it once instead");
      learner_->set_always(pat->key, now_ms(), example_of(a));
      save();
      json answer = {{"type", "request"},
                     {"id", "always-" + id},
                     {"method", "approval.answer"},
                     {"params", {{"id", id}, {"decision", "allow"}, {"by", std::string(c.caller) + " (always " + pat->key + ")"},
                                 {"reason", "always allow " + pat->key}}}};
      host_->client_send(client_, answer.dump());
      return json{{"pattern", pat->key}, {"status", "allowing"}}.dump();
    });
  }

  ccmux::Host* host_ = nullptr;
  int level_ = 1;
  std::unique_ptr<Learner> learner_;
  std::map<std::string, json> pending_;  // approvals waiting for a human, by id
  uint64_t client_ = 0;
};

}  // namespace

CCMUX_PLUGIN(ApprovalPlugin, "approval", "0.1.0", "learned auto-approval and autonomy levels", kKeys,
             sizeof(kKeys) / sizeof(kKeys[0]))
