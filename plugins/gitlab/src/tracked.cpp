#include "tracked.h"

namespace ccmux::gitlab {

using nlohmann::json;

std::string Target::key() const {
  return "p" + std::to_string(project_id) + (on == Noteable::merge_request ? "/mr/" : "/issue/") + std::to_string(iid);
}

std::string Target::label() const {
  return on == Noteable::merge_request ? "MR !" + std::to_string(iid) : "issue #" + std::to_string(iid);
}

std::string Trigger::marker() const { return "ccmux:" + kind + "=" + std::to_string(id); }

const Trigger* Tracked::trigger_of(int64_t prompt_id) const {
  for (auto& t : triggers)
    if (t.prompt_id == prompt_id) return &t;
  return nullptr;
}

json Tracked::to_json() const {
  json trig = json::array();
  for (auto& t : triggers)
    trig.push_back({{"kind", t.kind}, {"id", t.id}, {"request", t.request}, {"author", t.author}, {"prompt_id", t.prompt_id}});
  return {{"session", session},
          {"project_id", target.project_id},
          {"project_key", target.project_key},
          {"on", target.on == Noteable::merge_request ? "mr" : "issue"},
          {"iid", target.iid},
          {"branch", branch},
          {"worktree", worktree},
          {"worktree_name", worktree_name},
          {"base_branch", base_branch},
          {"title", title},
          {"opened_mr", opened_mr},
          {"last_seq", last_seq},
          {"current_prompt", current_prompt},
          {"triggers", trig}};
}

Tracked Tracked::from_json(const json& j) {
  Tracked t;
  t.session = j.at("session").get<std::string>();
  t.target.project_id = j.at("project_id").get<int64_t>();
  t.target.project_key = j.at("project_key").get<std::string>();
  t.target.on = j.at("on").get<std::string>() == "mr" ? Noteable::merge_request : Noteable::issue;
  t.target.iid = j.at("iid").get<int64_t>();
  t.branch = j.at("branch").get<std::string>();
  t.worktree = j.at("worktree").get<std::string>();
  t.worktree_name = j.value("worktree_name", "");
  t.base_branch = j.value("base_branch", "");
  t.title = j.value("title", "");
  t.opened_mr = j.value("opened_mr", "");
  t.last_seq = j.value("last_seq", uint64_t{0});
  t.current_prompt = j.value("current_prompt", int64_t{0});
  for (auto& x : j.value("triggers", json::array()))
    t.triggers.push_back({x.at("kind").get<std::string>(), x.at("id").get<int64_t>(), x.value("request", ""),
                          x.value("author", ""), x.value("prompt_id", int64_t{0})});
  return t;
}

std::vector<Tracked> TrackedStore::load_all() {
  std::vector<Tracked> out;
  json ids = json::parse(host_.kv_get("sessions").value_or("[]"), nullptr, false);
  if (!ids.is_array()) return out;
  for (auto& id : ids) {
    if (!id.is_string()) continue;
    auto text = host_.kv_get("session/" + id.get<std::string>());
    if (!text) continue;
    try {
      out.push_back(Tracked::from_json(json::parse(*text)));
    } catch (const std::exception& e) {
      host_.warn("gitlab: skipped the stored record of " + id.get<std::string>() + ": " + e.what());
    }
  }
  return out;
}

void TrackedStore::save(const Tracked& t) {
  bool is_new = !host_.kv_get("session/" + t.session);
  host_.kv_set("session/" + t.session, t.to_json().dump());
  if (!is_new) return;
  json ids = json::parse(host_.kv_get("sessions").value_or("[]"), nullptr, false);
  if (!ids.is_array()) ids = json::array();
  ids.push_back(t.session);
  host_.kv_set("sessions", ids.dump());
}

std::optional<std::string> TrackedStore::session_for(const Target& target) { return host_.kv_get("target/" + target.key()); }

void TrackedStore::map_target(const Target& target, const std::string& session) {
  host_.kv_set("target/" + target.key(), session);
}

void TrackedStore::forget_target(const Target& target) { host_.kv_delete("target/" + target.key()); }

bool TrackedStore::first_delivery(const std::string& delivery) {
  if (host_.kv_get("seen/" + delivery)) return false;
  host_.kv_set("seen/" + delivery, "1");
  return true;
}

}  // namespace ccmux::gitlab
