// Readable text for a stream of event messages: assistant text as it streams,
// one line per tool call and result, approvals as prompts.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>

namespace ccmux {

class Renderer {
 public:
  explicit Renderer(std::ostream& out) : out_(out) {}
  void event(const nlohmann::json& msg);  // a {"type":"event",...} message
  void line(const std::string& text);      // a line of our own, after any open text
  static std::string approval_line(const nlohmann::json& approval);

 private:
  void end_text();
  void event_body(const std::string& kind, const nlohmann::json& msg);
  std::ostream& out_;
  bool in_text_ = false;
};

std::string one_line(const std::string& s, size_t max = 160);

}  // namespace ccmux
