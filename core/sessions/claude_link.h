// The stream-json link to one claude process (`claude -p --input-format stream-json
// --output-format stream-json --permission-prompt-tool stdio`): NDJSON lines out (prompts, our
// control requests, answers to claude's) and in (each stdout line read and classified by type).
// Owns: the ids of our control requests (initialize, interrupt, set_permission_mode) and the
// callbacks awaiting their responses; the rule that every request of claude's is answered, even
// one it cannot read; the shared simdjson parser of the lines (ClaudeLineReader).
// May call: Process (write), json_bounds, json_fields. It knows nothing of sessions, their
// states, the store or the economy: a readable can_use_tool and claude's cancels go to the
// owner's handlers; what it could not read comes back as a problem string for the owner to report.
#pragma once

#include "runtime/child_process.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace ccmux {

// One stdout line as read: `type` empty when the line is unusable (why() says so). `doc` and
// the views point into the reader's parser: valid until its next read.
struct ClaudeLine {
  std::string_view type, subtype;
  simdjson::dom::element doc;
  bool parsed = false;
  const char* why(std::string_view line) const;  // what is wrong with a line whose type is empty
};

// One parser for every session's lines (its buffers grow to the largest line seen). Inline:
// it is on the event path, once per line of every claude.
class ClaudeLineReader {
 public:
  // `capacity`: readable bytes at line.data() (padding lets simdjson parse in place).
  ClaudeLine read(std::string_view line, size_t capacity) {
    ClaudeLine l;
    l.parsed = capacity >= line.size() + simdjson::SIMDJSON_PADDING
                   ? parser_.parse(line.data(), line.size(), false).get(l.doc) == simdjson::SUCCESS
                   : parser_.parse(line.data(), line.size(), true).get(l.doc) == simdjson::SUCCESS;
    if (l.parsed && l.doc.is_object()) {
      if (l.doc["type"].get(l.type) != simdjson::SUCCESS) l.type = {};
      if (l.doc["subtype"].get(l.subtype) != simdjson::SUCCESS) l.subtype = {};
    }
    return l;
  }
  // Frees the parser's buffers after a line over 16 MiB (it keeps buffers as big as the
  // largest line it saw); call once that line's views are done with.
  void release_after(size_t line_size) {
    if (line_size > (16u << 20)) parser_ = simdjson::dom::parser();
  }
  // Scope guard for release_after.
  struct Release {
    ClaudeLineReader& reader;
    size_t size;
    ~Release() { reader.release_after(size); }
  };

 private:
  simdjson::dom::parser parser_;
};

class ClaudeLink {
 public:
  using Done = std::function<void(bool ok, const nlohmann::json& response_or_error)>;
  struct Handlers {
    // claude asks to use a tool (a readable request); answer with answer_permission(request_id, ...).
    std::function<void(const std::string& request_id, const nlohmann::json& request)> can_use_tool;
    // claude withdrew one of its requests.
    std::function<void(const std::string& request_id)> cancel;
  };

  // `next_id` numbers our control requests ("ccmux-N"), shared by the links of one supervisor.
  ClaudeLink(Handlers handlers, uint64_t& next_id) : handlers_(std::move(handlers)), next_id_(next_id) {}

  // The process the link writes to (nullptr: none).
  void attach(Process* proc) { proc_ = proc; }
  bool running() const { return proc_ && proc_->running(); }

  // A user turn (a string or content blocks), written once what is stored now has committed
  // (a held claude may get it again after a ccmuxd crash under the same `tag`: dropped then).
  void send_prompt(const nlohmann::json& content, const std::string& tag);
  // A control request of ours; `done` hears claude's response, or at once an error when no
  // process runs.
  void send_control(const std::string& subtype, nlohmann::json fields, Done done);
  // A request already written (a warm process's initialize): its response goes to `done`.
  void expect_response(const std::string& request_id, Done done) { pending_[request_id] = std::move(done); }
  // Our answer to claude's can_use_tool (`response`: behavior allow/deny ...), if it still runs.
  void answer_permission(const std::string& request_id, const nlohmann::json& response);
  bool has_pending() const { return !pending_.empty(); }
  // The process ended: every pending request hears `why`.
  void fail_pending(const std::string& why);

  static bool is_control(std::string_view type) {
    return type == "control_request" || type == "control_response" || type == "control_cancel_request";
  }
  // Handles one control line (is_control(line.type)): answers claude's requests, resolves ours,
  // passes cancels on. Returns what was wrong with it ("" when nothing).
  std::string handle_control(std::string_view raw, const ClaudeLine& line);

  // The initialize request line (NDJSON, newline included) and whether `msg` answers `request_id`:
  // for a warm process, which is initialized before it has a link.
  static std::string initialize_line(const std::string& request_id);
  static bool answers(const nlohmann::json& msg, const std::string& request_id);

 private:
  void write_response(const nlohmann::json& request_id, nlohmann::json response);
  std::string on_request(const nlohmann::json& msg);
  std::string on_response(const nlohmann::json& msg);
  std::string on_cancel(const nlohmann::json& msg);
  // A control line too deep to use as nlohmann JSON: answered from simdjson's view of it.
  std::string unreadable(std::string_view type, simdjson::dom::element doc, const std::string& why);

  Handlers handlers_;
  uint64_t& next_id_;
  Process* proc_ = nullptr;
  std::map<std::string, Done> pending_;  // our control requests awaiting a reply
};

}  // namespace ccmux
