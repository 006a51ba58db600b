// One supervised child (claude): own process group, non-blocking stdin/stdout/stderr
// pipes on the event loop, exit seen through a pidfd. Lines are cut as LineSplitter says
// (no size limit short of kMaxLine; a longer one is delivered cut, its rest dropped).
#pragma once

#include "runtime/event_loop.h"
#include "runtime/line_splitter.h"
#include "unique_fd.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ccmux {

// What the supervisor and the warm pool use of a child process: ChildProcess in the daemon, a
// scripted stand-in in tests of the session economy (no process, no sleeping).
class Process {
 public:
  static constexpr size_t kMaxLine = LineSplitter::kMaxLine;

  struct Callbacks {
    // `padded_capacity` bytes are readable from line.data() (>= line.size() + 64), for simdjson.
    std::function<void(std::string_view line, size_t padded_capacity)> on_stdout_line;
    std::function<void(std::string_view line)> on_stderr_line;
    std::function<void(int wait_status)> on_exit;
  };

  virtual ~Process() = default;
  // Returns false with `error` set when the process could not be started.
  virtual bool spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
                     const std::map<std::string, std::string>& env_overrides, std::string& error) = 0;
  // A new owner takes the process over (a warm process handed to a session). Not from
  // inside one of the current callbacks.
  virtual void set_callbacks(Callbacks cb) = 0;
  virtual void write(std::string data) = 0;  // queued; written as the pipe allows
  // Written once the store's open transaction has committed (a held process: after a crash
  // the same `tag` is sent again and dropped when claude already has it). Plain processes
  // die with ccmuxd: they write at once.
  virtual void write_after_commit(const std::string& tag, std::string data) {
    (void)tag;
    write(std::move(data));
  }
  virtual void close_stdin() = 0;            // after the queue drains
  virtual void kill_group(int sig) = 0;
  virtual pid_t pid() const = 0;
  virtual bool running() const = 0;
  // Held by a ccmux-shim (issue 13): it goes on when ccmuxd stops; its holder's name.
  virtual bool outlives_daemon() const { return false; }
  virtual std::string holder_instance() const { return {}; }
};

// Makes a (not yet spawned) process with these callbacks.
using ProcessFactory = std::function<std::unique_ptr<Process>(Process::Callbacks)>;

class ChildProcess final : public Process {
 public:
  ChildProcess(EventLoop& loop, Callbacks cb);
  ~ChildProcess() override;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
             const std::map<std::string, std::string>& env_overrides, std::string& error) override;
  void set_callbacks(Callbacks cb) override { cb_ = std::move(cb); }
  void write(std::string data) override;
  void close_stdin() override;
  void kill_group(int sig) override;
  pid_t pid() const override { return pid_; }
  bool running() const override { return pid_ > 0 && !exited_; }

  // Real processes on `loop`.
  static ProcessFactory factory(EventLoop& loop);

 private:
  void on_stdout(uint32_t events);
  void on_stderr(uint32_t events);
  void on_stdin_writable();
  void on_pidfd();
  void read_lines(int fd, LineSplitter& lines, bool is_stdout, bool final);
  void emit(bool is_stdout, std::string_view line, size_t capacity);
  void close_fd(UniqueFd& fd);  // removed from the loop, then closed

  EventLoop& loop_;
  Callbacks cb_;
  pid_t pid_ = -1;
  UniqueFd in_, out_, err_, pidfd_;
  bool exited_ = false;
  bool close_after_write_ = false;
  LineSplitter outbuf_, errbuf_;
  std::string pending_write_;
  size_t write_off_ = 0;
};

}  // namespace ccmux
