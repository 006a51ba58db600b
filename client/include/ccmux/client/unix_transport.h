// The local control API: ccmuxd's Unix socket, one JSON message per line.
#pragma once

#include "ccmux/client/transport.h"

#include <memory>
#include <string>

namespace ccmux::client {

class UnixTransport : public Transport {
 public:
  // Connects and checks the peer is our own user or root (never hand prompts and approvals
  // to a socket someone else put in our path). Throws ConnectError.
  static std::unique_ptr<UnixTransport> connect(const std::string& socket_path);
  ~UnixTransport() override;
  UnixTransport(const UnixTransport&) = delete;
  UnixTransport& operator=(const UnixTransport&) = delete;

  void send(std::string_view message) override;
  std::optional<std::string> receive(Deadline deadline) override;
  void close() override;
  bool has_buffered() override;
  int wait_fd() const override { return fd_; }
  std::string endpoint() const override { return path_; }

 private:
  UnixTransport(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  std::string in_;
  size_t in_off_ = 0;   // start of the unread part of in_
  size_t scanned_ = 0;  // in_ is searched for a newline from here (a big event: one pass)
};

}  // namespace ccmux::client
