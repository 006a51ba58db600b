#include "approvals/remote_approvals.h"

namespace ccmux {

using nlohmann::json;

namespace {
std::string message(const char* type, const json& approval) {
  return json{{"type", type}, {"approval", approval}}.dump(-1, ' ', false, json::error_handler_t::replace);
}
bool still_pending(const json& a) {
  auto s = a.find("state");
  return s == a.end() || !s->is_string() || s->get_ref<const std::string&>() == "pending";
}
}  // namespace

std::vector<std::string> RemoteApprovals::replace(const std::string& machine, const json& approvals) {
  Known now;
  std::map<std::string, json> ended;  // listed, but no longer pending by their own word
  if (approvals.is_array())
    for (auto& a : approvals) {
      if (!a.is_object()) continue;
      auto id = a.find("id");
      if (id == a.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) continue;
      const std::string& key = id->get_ref<const std::string&>();
      if (!still_pending(a)) {
        ended[key] = a;
        continue;
      }
      if (now.by_id.emplace(key, a).second) now.order.push_back(key);
    }
  std::vector<std::string> out;
  Known& before = machines_[machine];
  for (auto& id : before.order) {
    if (now.by_id.count(id)) continue;
    auto own = ended.find(id);
    json gone = before.by_id[id];
    if (own != ended.end()) {
      gone = own->second;
    } else {
      gone["state"] = "resolved";
      gone["decision"] = "unknown";
      gone["reason"] = "no longer pending on " + machine;
    }
    out.push_back(message("approval_resolved", gone));
  }
  for (auto& id : now.order)
    if (!before.by_id.count(id)) out.push_back(message("approval_requested", now.by_id[id]));
  if (now.order.empty()) machines_.erase(machine);
  else before = std::move(now);
  return out;
}

json RemoteApprovals::pending() const {
  json arr = json::array();
  for (auto& [machine, known] : machines_)
    for (auto& id : known.order) arr.push_back(known.by_id.at(id));
  return arr;
}

size_t RemoteApprovals::size() const {
  size_t n = 0;
  for (auto& [machine, known] : machines_) n += known.order.size();
  return n;
}

std::vector<std::string> RemoteApprovals::machines() const {
  std::vector<std::string> out;
  for (auto& [machine, known] : machines_) out.push_back(machine);
  return out;
}

}  // namespace ccmux
