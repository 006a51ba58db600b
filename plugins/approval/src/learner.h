// Counts human decisions per pattern and says when a pattern has earned auto-approval:
// at least `min_approvals` approvals since its last denial and a confidence
// approvals / (approvals + denials ever) of at least `min_confidence`. One denial resets the
// approvals to zero. "Always" (a person said so explicitly) approves at once.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace ccmux::approval {

struct PatternStats {
  int64_t approvals = 0;      // since the last denial
  int64_t approvals_total = 0;
  int64_t denials = 0;        // ever
  bool always = false;
  int64_t last_ms = 0;
  std::string last_example;   // the last input that taught it (shown by `ccmux approvals --learned`)
};

class Learner {
 public:
  Learner(int64_t min_approvals, double min_confidence, std::set<std::string> never_learn)
      : min_approvals_(min_approvals), min_confidence_(min_confidence), never_(std::move(never_learn)) {}

  // False when the pattern may not be learned nor match: the never_learn list, and keys today's
  // rules would not produce (key_allowed in pattern.h).
  bool learnable(const std::string& key) const;
  void record(const std::string& key, bool allowed, int64_t now_ms, const std::string& example);
  void set_always(const std::string& key, int64_t now_ms, const std::string& example);
  bool forget(const std::string& key) { return stats_.erase(key) > 0; }

  double confidence(const PatternStats& s) const;
  // The evidence when the pattern has earned auto-approval, e.g. "learned Bash:git status:
  // 5 approvals, 0 denials (confidence 1.00)"; nullopt otherwise.
  std::optional<std::string> earned(const std::string& key) const;

  nlohmann::json to_json() const;  // persisted form
  void load(const nlohmann::json& j);
  nlohmann::json listing() const;  // for `ccmux approvals --learned`

 private:
  int64_t min_approvals_;
  double min_confidence_;
  std::set<std::string> never_;
  std::map<std::string, PatternStats> stats_;
};

}  // namespace ccmux::approval
