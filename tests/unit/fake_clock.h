// A hand-driven Clock and a scripted claude Process for tests of the session economy and the
// supervisor: time moves only in advance(), so parking, backoff and timeouts are exact and
// nothing sleeps. The scripted claude speaks the stream-json protocol the way the python fake
// (tests/fake_claude) does for the prompts used here.
#pragma once

#include "runtime/child_process.h"
#include "runtime/clock.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ccmux::test {

class FakeClock final : public Clock {
 public:
  double now() const override { return now_; }
  TimerId add_timer(double delay_s, Task task) override {
    TimerId id = next_++;
    due_[{now_ + delay_s, id}] = {std::move(task), 0};
    at_[id] = now_ + delay_s;
    return id;
  }
  TimerId every(double period_s, Task task) override {
    TimerId id = next_++;
    due_[{now_ + period_s, id}] = {std::move(task), period_s};
    at_[id] = now_ + period_s;
    return id;
  }
  void cancel_timer(TimerId id) override {
    auto it = at_.find(id);
    if (it == at_.end()) return;
    due_.erase({it->second, id});
    at_.erase(it);
  }
  // Runs every timer due up to now + dt, in time order, with now() at each one's time.
  void advance(double dt) {
    double end = now_ + dt;
    while (!due_.empty() && due_.begin()->first.first <= end) {
      auto [key, timer] = *due_.begin();
      due_.erase(due_.begin());
      at_.erase(key.second);
      now_ = key.first;
      if (timer.period > 0) {  // re-armed first: the task may cancel it
        due_[{now_ + timer.period, key.second}] = timer;
        at_[key.second] = now_ + timer.period;
      }
      timer.task();
    }
    now_ = end;
  }
  // Small steps: lets deferred process output and its consequences run.
  void settle() { advance(0); }

 private:
  struct Timer {
    Task task;
    double period;
  };
  double now_ = 1000;
  TimerId next_ = 1;
  std::map<std::pair<double, TimerId>, Timer> due_;
  std::map<TimerId, double> at_;
};

// What the scripted claude does.
struct FakeClaudeScript {
  bool answer_initialize = true;
  int exit_at_start = -1;                // >= 0: exits with this code right after start (no output)
  std::vector<std::string> start_stderr;  // written to stderr at start
  int spawned = 0;                        // starts so far
  std::vector<std::string> prompts;       // every prompt content received (strings)
};

// Prompt "ask me": a can_use_tool (result once answered); "crash now": killed by SIGKILL;
// "quit now": exit 0 during the turn; "hang please": no output; anything else: a result echoing it. Stdin EOF: exit 0. Output comes on the clock (0 s), as
// a real process's does on the loop, never from inside write().
class FakeClaude final : public Process {
 public:
  FakeClaude(FakeClock& clock, std::shared_ptr<FakeClaudeScript> script, Callbacks cb)
      : clock_(clock), script_(std::move(script)), cb_(std::move(cb)) {}
  ~FakeClaude() override { *alive_ = false; }

  bool spawn(const std::string&, const std::vector<std::string>& args, const std::string&,
             const std::map<std::string, std::string>&, std::string&) override {
    args_ = args;
    pid_ = 40000 + ++script_->spawned;
    running_ = true;
    for (auto& l : script_->start_stderr) later([this, l] { if (cb_.on_stderr_line) cb_.on_stderr_line(l); });
    if (script_->exit_at_start >= 0) end(script_->exit_at_start << 8);
    return true;
  }
  void set_callbacks(Callbacks cb) override { cb_ = std::move(cb); }
  void write(std::string data) override {
    if (!running_ || ending_) return;
    size_t start = 0;
    for (size_t nl; (nl = data.find('\n', start)) != std::string::npos; start = nl + 1)
      on_input(nlohmann::json::parse(data.substr(start, nl - start)));
  }
  void close_stdin() override {
    if (running_ && !ending_) end(0);
  }
  void kill_group(int sig) override {
    if (running_ && !ending_) end(sig);
  }
  pid_t pid() const override { return pid_; }
  bool running() const override { return running_; }
  const std::vector<std::string>& args() const { return args_; }

  static ProcessFactory factory(FakeClock& clock, std::shared_ptr<FakeClaudeScript> script) {
    return [&clock, script](Callbacks cb) -> std::unique_ptr<Process> {
      return std::make_unique<FakeClaude>(clock, script, std::move(cb));
    };
  }

 private:
  using json = nlohmann::json;
  void later(std::function<void()> fn) {
    std::weak_ptr<bool> alive = alive_;
    clock_.add_timer(0, [alive, fn = std::move(fn)] {
      if (auto a = alive.lock(); a && *a) fn();
    });
  }
  void say(json msg) {
    later([this, line = msg.dump()] {
      if (running_ && cb_.on_stdout_line) cb_.on_stdout_line(line, 0);
    });
  }
  void end(int status) {
    ending_ = true;  // reads no more input; reaped (running() false) when the exit is reported
    later([this, status] {
      running_ = false;
      auto on_exit = std::move(cb_.on_exit);  // may destroy this object
      if (on_exit) on_exit(status);
    });
  }
  void on_input(const json& msg) {
    std::string type = msg.value("type", "");
    if (type == "control_request" && msg["request"].value("subtype", "") == "initialize") {
      if (script_->answer_initialize)
        say({{"type", "control_response"},
             {"response", {{"subtype", "success"}, {"request_id", msg["request_id"]}, {"response", json::object()}}}});
    } else if (type == "user") {
      std::string text = msg["message"]["content"].is_string() ? msg["message"]["content"].get<std::string>() : "";
      script_->prompts.push_back(text);
      say({{"type", "system"}, {"subtype", "init"}, {"session_id", session_id()}});
      if (text == "crash now") {
        end(SIGKILL);
      } else if (text == "quit now") {
        end(0);  // exit 0 in the middle of a turn
      } else if (text == "hang please") {
        // no output at all
      } else if (text == "ask me") {
        say({{"type", "control_request"},
             {"request_id", "perm-1"},
             {"request", {{"subtype", "can_use_tool"}, {"tool_name", "Bash"}, {"input", {{"command", "ls"}}}}}});
      } else {
        result(text);
      }
    } else if (type == "control_response") {  // our answer to "ask me"
      result("permission: " + msg["response"]["response"].value("behavior", ""));
    }
  }
  void result(const std::string& text) {
    say({{"type", "result"}, {"subtype", "success"}, {"is_error", false}, {"result", text}, {"session_id", session_id()}});
  }
  std::string session_id() const {
    for (size_t i = 0; i + 1 < args_.size(); ++i)
      if (args_[i] == "--session-id" || args_[i] == "--resume") return args_[i + 1];
    return "";
  }

  FakeClock& clock_;
  std::shared_ptr<FakeClaudeScript> script_;
  Callbacks cb_;
  std::vector<std::string> args_;
  pid_t pid_ = 0;
  bool running_ = false;
  bool ending_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace ccmux::test
