#include "learner.h"

#include "pattern.h"

#include <cstdio>

namespace ccmux::approval {

using nlohmann::json;

bool Learner::learnable(const std::string& key) const {
  if (!key_allowed(key)) return false;
  // never_learn "rm" (or "Bash:rm") covers "Bash:rm" and "Bash:rm -v"; "git push" covers
  // "Bash:git push -u"; "Edit:.env" is a whole key.
  auto colon = key.find(':');
  std::string tool = key.substr(0, colon);
  std::string rest = colon == std::string::npos ? "" : key.substr(colon + 1);
  for (auto& n : never_) {
    if (n == key || n == rest) return false;
    std::string cmd = n.rfind("Bash:", 0) == 0 ? n.substr(5) : n;
    if (tool == "Bash" && (rest == cmd || rest.rfind(cmd + " ", 0) == 0)) return false;
  }
  return true;
}

void Learner::record(const std::string& key, bool allowed, int64_t now_ms, const std::string& example) {
  if (!learnable(key)) return;
  auto& s = stats_[key];
  if (allowed) {
    ++s.approvals;
    ++s.approvals_total;
  } else {
    s.approvals = 0;  // one denial resets the pattern
    ++s.denials;
    s.always = false;
  }
  s.last_ms = now_ms;
  s.last_example = example.substr(0, 200);
}

void Learner::set_always(const std::string& key, int64_t now_ms, const std::string& example) {
  if (!learnable(key)) return;
  auto& s = stats_[key];
  s.always = true;
  ++s.approvals;
  ++s.approvals_total;
  s.last_ms = now_ms;
  s.last_example = example.substr(0, 200);
}

double Learner::confidence(const PatternStats& s) const {
  int64_t n = s.approvals + s.denials;
  return n == 0 ? 0.0 : static_cast<double>(s.approvals) / static_cast<double>(n);
}

std::optional<std::string> Learner::earned(const std::string& key) const {
  if (!learnable(key)) return std::nullopt;
  auto it = stats_.find(key);
  if (it == stats_.end()) return std::nullopt;
  const PatternStats& s = it->second;
  char buf[256];
  if (s.always) {
    std::snprintf(buf, sizeof buf, "learned %s: marked 'always allow' by a person (%lld approvals, %lld denials)",
                  key.c_str(), static_cast<long long>(s.approvals_total), static_cast<long long>(s.denials));
    return std::string(buf);
  }
  if (s.approvals < min_approvals_ || confidence(s) < min_confidence_) return std::nullopt;
  std::snprintf(buf, sizeof buf, "learned %s: %lld approvals since the last denial, %lld denials (confidence %.2f)",
                key.c_str(), static_cast<long long>(s.approvals), static_cast<long long>(s.denials), confidence(s));
  return std::string(buf);
}

json Learner::to_json() const {
  json j = json::object();
  for (auto& [k, s] : stats_)
    j[k] = {{"approvals", s.approvals}, {"approvals_total", s.approvals_total}, {"denials", s.denials},
            {"always", s.always},       {"last_ms", s.last_ms},                 {"last_example", s.last_example}};
  return j;
}

void Learner::load(const json& j) {
  stats_.clear();
  if (!j.is_object()) return;
  for (auto& [k, v] : j.items()) {
    PatternStats s;
    s.approvals = v.value("approvals", int64_t{0});
    s.approvals_total = v.value("approvals_total", s.approvals);
    s.denials = v.value("denials", int64_t{0});
    s.always = v.value("always", false);
    s.last_ms = v.value("last_ms", int64_t{0});
    s.last_example = v.value("last_example", "");
    stats_[k] = s;
  }
}

json Learner::listing() const {
  json arr = json::array();
  for (auto& [k, s] : stats_)
    arr.push_back({{"pattern", k},
                   {"approvals", s.approvals},
                   {"approvals_total", s.approvals_total},
                   {"denials", s.denials},
                   {"confidence", confidence(s)},
                   {"always", s.always},
                   {"auto", earned(k).has_value()},
                   {"blocked", !learnable(k)},  // stored earlier, now never_learn or destructive/exec-like
                   {"last_ms", s.last_ms},
                   {"last_example", s.last_example}});
  return arr;
}

}  // namespace ccmux::approval
