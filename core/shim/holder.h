// ccmux-shim's one object: claude's parent, the owner of its pipes, the spool writer and the
// socket server of protocol v1 (core/shim/README.md). Single-threaded: one poll() loop.
#pragma once

#include "shim/holder_protocol.h"
#include "unique_fd.h"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ccmux::shim {

// The protocol number hello and --version announce: kHolderProtocol, except in the test build
// ccmux-shim-proto99 (tests/CMakeLists.txt), a holder ccmuxd must find unadoptable.
#ifdef CCMUX_HOLDER_PROTO_OVERRIDE
constexpr int kHelloProtocol = CCMUX_HOLDER_PROTO_OVERRIDE;
#else
constexpr int kHelloProtocol = kHolderProtocol;
#endif

struct HolderOptions {
  std::string session;
  std::string spool_dir;    // absolute; created 0700 when missing
  std::string socket_path;  // absolute; its directory must exist, be ours and be 0700
  std::string cwd;          // claude's working directory
  std::vector<std::pair<std::string, std::string>> env;  // overrides of the inherited environment
  std::vector<std::string> argv;                         // claude's executable (a path) and arguments
  uint64_t segment_bytes = kDefaultSegmentBytes;
  int stop_grace_s = 5;
};


// The last `cap` strings added, the oldest forgotten first, kept as 64-bit hashes in a ring
// (8 bytes each whatever the string's length: 4096 long ids and tags as strings cost more
// than the holder's 2 MB). A false match needs two of the 4096 to share a hash (odds about
// 1e-12); a lookup scans the ring, about a microsecond.
class Recent {
 public:
  explicit Recent(size_t cap) : cap_(cap) {}
  bool contains(std::string_view s) const;
  void add(std::string_view s);

 private:
  size_t cap_;
  std::vector<uint64_t> ring_;  // grows to cap_, then next_ is overwritten
  size_t next_ = 0;
};

class Holder {
 public:
  explicit Holder(HolderOptions o) : o_(std::move(o)) {}
  // Spool, socket, claude. "" on success, else why not (nothing is left running).
  std::string start();
  pid_t claude_pid() const { return pid_; }
  // The loop; returns when the holder is done (claude exited and acknowledged, or stopped).
  int run();

 private:
  // spool
  std::string open_segment(uint64_t n);
  void append_stdout(const char* data, size_t n);
  bool flush_spool();  // false: the disk refused (retried later; claude's stdout is not read meanwhile)
  void read_stdout(bool to_eof);
  void read_stderr();
  std::string segment_path(uint64_t n) const;
  // claude
  void reap();
  void on_exited(int status);
  void write_stdin();
  void kill_group(int sig);
  // client
  void accept_client();
  void read_client();
  void write_client();
  void drop_client();
  void send(std::string_view payload);
  void handle(std::string_view payload);
  bool handle_stdin(std::string_view bytes);  // true: accepted (queued, or every line a repeat)
  void handle_stdin_once(std::string_view rest);
  void notify_more();
  std::string hello() const;
  bool done() const;

  HolderOptions o_;
  UniqueFd listen_, client_, sigfd_;
  UniqueFd in_, out_, err_;
  pid_t pid_ = -1;
  int64_t started_ms_ = 0;
  bool exited_ = false;
  int status_ = 0;
  // spool
  UniqueFd seg_fd_;
  uint64_t seg_ = 1, seg_size_ = 0, first_seg_ = 1;
  std::string spool_pending_;  // read from claude, not yet written (disk full)
  // stdin
  std::deque<std::string> stdin_q_;
  size_t stdin_q_bytes_ = 0, stdin_off_ = 0;
  Recent answered_{kMaxAnsweredIds};  // control_response request ids forwarded
  Recent stdin_tags_{kMaxStdinTags};  // `stdin-once` tags accepted
  // stderr
  std::string err_ring_;
  // client
  FrameReader in_frames_;
  std::string out_buf_;
  size_t out_off_ = 0;
  bool more_outstanding_ = false;
  // ending
  bool stop_requested_ = false;
  bool ack_exit_ = false;
  int64_t kill_at_ms_ = -1;  // monotonic: SIGKILL claude's group then
};

}  // namespace ccmux::shim
