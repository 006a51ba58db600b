// An owned file descriptor: closed exactly once, when its owner goes (or on reset), so an
// early return or an exception between open() and the hand-over cannot leak it. Move-only.
// Descriptors registered with the EventLoop are removed from it by their owner before reset:
// the loop keys handlers by registration, not by number, but the owner knows when to stop.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace ccmux {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the held descriptor (if any) and holds `fd` instead. close() errors other than on
  // files being written are not actionable (the fd is gone either way); writers that must
  // see a late error (NFS, full disk) call close_checked().
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // Closes now and returns close()'s result (0, or -1 with errno set).
  int close_checked() noexcept { return fd_ >= 0 ? ::close(std::exchange(fd_, -1)) : 0; }

 private:
  int fd_ = -1;
};

// pipe2(2) into owned ends; false with errno set when it fails (nothing is left open).
inline bool make_pipe(UniqueFd& read_end, UniqueFd& write_end, int flags = O_CLOEXEC) {
  int p[2];
  if (pipe2(p, flags) != 0) return false;
  read_end.reset(p[0]);
  write_end.reset(p[1]);
  return true;
}

}  // namespace ccmux
