// The local control API: a Unix socket (0600 in a 0700 dir, peer uid checked),
// NDJSON framing, one ProtocolClient per connection, bounded output per client.
#pragma once

#include "daemon/core.h"
#include "protocol/protocol_client.h"
#include "unique_fd.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ccmux {

class ControlServer {
 public:
  static constexpr size_t kMaxMessage = 64u << 20;     // images in prompts can be large
  static constexpr size_t kPauseReplayAt = 1u << 20;   // stop feeding replays above this
  static constexpr size_t kMaxQueued = 256u << 20;     // then the client is cut off

  ControlServer(Core& core, std::string path);
  ~ControlServer();
  void start();  // throws on failure

 private:
  struct Conn {
    UniqueFd fd;
    std::string in;
    size_t scanned = 0;  // bytes of `in` already searched for a newline
    std::string out;
    size_t out_off = 0;
    std::unique_ptr<ProtocolClient> client;
    bool closing = false;
    bool dirty = false;  // has output waiting for the end-of-turn flush
  };
  void on_accept();
  void on_conn(int fd, uint32_t events);
  void flush(Conn& c);
  void close_conn(int fd);
  void schedule_close(Conn* c);  // from inside callbacks: close on the next loop turn
  void flush_dirty();            // before the loop sleeps: one send per connection

  Core& core_;
  std::string path_;
  UniqueFd listen_fd_;
  std::map<int, std::unique_ptr<Conn>> conns_;
  std::vector<int> dirty_;
};

}  // namespace ccmux
