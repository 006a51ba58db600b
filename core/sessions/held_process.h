// A claude process held by a `ccmux-shim` (issue 13, docs/holder.md): claude survives
// ccmuxd. ccmuxd talks to the holder over its Unix socket (protocol v1, core/shim/README.md)
// and reads claude's stdout from the holder's spool files, not from a pipe: the position of
// the first byte not yet turned into events is committed in the same SQLite transaction as
// those events (the HolderHub's commit hooks), so a ccmuxd killed at any moment resumes
// reading exactly there — no line lost, none stored twice.
// Owns: the connection to one holder, the spool reader and its position, the line splitting.
// May call: EventLoop, Store (through the hub), the holder protocol (shim/holder_protocol.h).
#pragma once

#include "runtime/child_process.h"
#include "runtime/event_loop.h"
#include "runtime/line_splitter.h"
#include "unique_fd.h"
#include "shim/holder_protocol.h"
#include "storage/store.h"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ccmux {

// Holder protocols this ccmuxd speaks; a holder outside the range is left alone and its
// session shown as unadoptable.
constexpr int kMinHolderProtocol = 1;
constexpr int kMaxHolderProtocol = 1;

struct HolderOptions {
  std::string shim_path;    // the ccmux-shim binary
  std::string holders_dir;  // sockets, <instance>.sock (0700)
  std::string spool_dir;    // spools, <instance>/ (0700)
  double stop_grace_s = 5;  // the holder's SIGTERM -> SIGKILL delay on `stop`
  double start_timeout_s = 10;  // the holder's "ready" line and hello
};

class HeldProcess;

// The holders of one ccmuxd: spawns them (through factory()), adopts the ones a previous
// ccmuxd left, writes spool positions into each transaction before it commits and, once it
// has, tells the holders (segments to unlink, exits acknowledged).
class HolderHub {
 public:
  HolderHub(EventLoop& loop, Store& store, HolderOptions opts);
  ~HolderHub();
  HolderHub(const HolderHub&) = delete;
  HolderHub& operator=(const HolderHub&) = delete;

  ProcessFactory factory();
  const HolderOptions& options() const { return opts_; }

  // A holder a previous ccmuxd started. Null with `why` set when it cannot be adopted;
  // `unadoptable` then says it runs but speaks another protocol (left alone).
  std::unique_ptr<HeldProcess> adopt(const HolderRow& row, Process::Callbacks cb, std::string& why, bool& unadoptable);
  // Sockets in the holders directory whose instance is not in `known`: their holders are told
  // to stop (a warm process no session took, or a start the previous ccmuxd never committed).
  // Spool directories of no known instance and no socket are removed. Returns how many stopped.
  size_t stop_unknown(const std::set<std::string>& known);

  // Ends every holder found in the directory (claude gets SIGTERM, then SIGKILL after the
  // grace) and waits up to `wait_s` for them to go: `ccmuxd --stop-sessions` with no daemon.
  static size_t stop_all_in(const std::string& holders_dir, double wait_s);

 private:
  friend class HeldProcess;
  struct Retiring {  // exited and reported: acknowledged once the events are committed
    UniqueFd conn;
    std::string instance, spool;
  };
  void before_commit();
  void after_commit();
  void watch_child(pid_t pid);  // reaps a holder we spawned when it ends

  EventLoop& loop_;
  Store& store_;
  HolderOptions opts_;
  std::set<HeldProcess*> live_;
  std::vector<Retiring> retiring_;
  std::vector<std::pair<int, pid_t>> children_;  // pidfd, pid
};

class HeldProcess final : public Process {
 public:
  HeldProcess(HolderHub& hub, Callbacks cb);
  ~HeldProcess() override;  // detaches: the holder and claude go on (unless claude has exited)

  bool spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
             const std::map<std::string, std::string>& env_overrides, std::string& error) override;
  void set_callbacks(Callbacks cb) override { cb_ = std::move(cb); }
  void write(std::string data) override;
  // Sent once the transaction open now has committed, as `stdin-once <tag>`: after a crash the
  // same tag may be sent again and the holder drops it when claude already has it.
  void write_after_commit(const std::string& tag, std::string data) override;
  void close_stdin() override;
  void kill_group(int sig) override;
  pid_t pid() const override { return claude_pid_; }
  bool running() const override { return connected_ && !exit_seen_; }
  bool outlives_daemon() const override { return true; }
  std::string holder_instance() const override { return instance_; }

  int64_t started_ms() const { return started_ms_; }
  pid_t holder_pid() const { return holder_pid_; }

 private:
  friend class HolderHub;
  struct Pos {
    uint64_t seg = 1, off = 0;
    bool operator!=(const Pos& o) const { return seg != o.seg || off != o.off; }
  };
  enum class Expect { reply, stderr_bytes };

  // Connects to the socket and reads the hello (blocking, bounded). Sets error on failure, and
  // *unadoptable when the holder answered but speaks a protocol outside ours.
  bool connect_and_hello(const std::string& socket_path, std::string& error, bool* unadoptable = nullptr);
  void on_socket(uint32_t events);
  void handle_frame(std::string_view payload);
  void request(std::string_view payload, Expect reply = Expect::reply);
  void flush_out();
  void read_spool(bool final);
  void split(const char* data, size_t n, bool final);
  void emit(std::string_view line, size_t capacity);
  void on_claude_exited(int status);
  void report_exit();
  void holder_lost(const std::string& why);
  std::string segment_path(uint64_t seg) const;

  HolderHub& hub_;
  Callbacks cb_;
  std::string instance_, spool_;
  pid_t holder_pid_ = -1, claude_pid_ = -1;
  UniqueFd claude_pidfd_;  // to kill claude safely (no pid reuse) when its holder died
  int64_t started_ms_ = 0;
  UniqueFd conn_;
  bool connected_ = false;
  shim::FrameReader frames_;
  std::string out_;
  size_t out_off_ = 0;
  bool waiting_writable_ = false;  // EPOLLOUT asked for
  std::deque<Expect> expect_;
  std::vector<std::pair<std::string, std::string>> after_commit_;  // tag, bytes

  // Spool reading: the segment open now and how far it is read; the lines being cut.
  UniqueFd seg_fd_;
  Pos read_;
  LineSplitter lines_;
  Pos consumed_;      // after the last line handed over (its events are in the open transaction)
  Pos stored_;        // written into the open transaction (after the commit: committed)
  uint64_t committed_seg_told_ = 0;

  bool exit_seen_ = false;  // the holder said `exited` (or was lost)
  bool exit_reported_ = false;
  bool lost_ = false;
  int exit_status_ = 0;
  std::deque<std::string> stderr_lines_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // callbacks may destroy this object: checked after them
};

}  // namespace ccmux
