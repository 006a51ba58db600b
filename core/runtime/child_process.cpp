#include "runtime/child_process.h"

#include "claude_spawn.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>


namespace ccmux {
namespace {
void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
}  // namespace

ChildProcess::ChildProcess(EventLoop& loop, Callbacks cb) : loop_(loop), cb_(std::move(cb)) {}

ChildProcess::~ChildProcess() {
  if (running()) kill_group(SIGKILL);
  close_fd(in_);
  close_fd(out_);
  close_fd(err_);
  close_fd(pidfd_);
  if (pid_ > 0 && !exited_) waitpid(pid_, nullptr, WNOHANG);
}

void ChildProcess::close_fd(UniqueFd& fd) {
  if (fd) {
    loop_.remove_fd(fd.get());
    fd.reset();
  }
}

bool ChildProcess::spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
                         const std::map<std::string, std::string>& env_overrides, std::string& error) {
  // The child's ends close when this function returns; ours move into the members on success.
  UniqueFd in_child, in_ours, out_ours, out_child, err_ours, err_child;
  if (!make_pipe(in_child, in_ours) || !make_pipe(out_ours, out_child) || !make_pipe(err_ours, err_child)) {
    error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  std::vector<std::string> argv = {exe};
  argv.insert(argv.end(), args.begin(), args.end());
  int rc = spawn_in_own_group(argv, cwd, env_overrides, in_child.get(), out_child.get(), err_child.get(), pid_);
  if (rc != 0) {
    pid_ = -1;
    error = "cannot start " + exe + " in " + cwd + ": " + strerror(rc);
    return false;
  }
  in_ = std::move(in_ours);
  out_ = std::move(out_ours);
  err_ = std::move(err_ours);
  set_nonblock(in_.get());
  set_nonblock(out_.get());
  set_nonblock(err_.get());
  pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, pid_, 0)));
  loop_.add_fd(out_.get(), EPOLLIN, [this](uint32_t ev) { on_stdout(ev); });
  loop_.add_fd(err_.get(), EPOLLIN, [this](uint32_t ev) { on_stderr(ev); });
  loop_.add_fd(in_.get(), 0, [this](uint32_t) { on_stdin_writable(); });
  if (pidfd_) loop_.add_fd(pidfd_.get(), EPOLLIN, [this](uint32_t) { on_pidfd(); });
  return true;
}

void ChildProcess::write(std::string data) {
  if (!in_) return;
  pending_write_.append(data);
  on_stdin_writable();
}

void ChildProcess::close_stdin() {
  close_after_write_ = true;
  on_stdin_writable();
}

void ChildProcess::on_stdin_writable() {
  if (!in_) return;
  while (write_off_ < pending_write_.size()) {
    ssize_t n = ::write(in_.get(), pending_write_.data() + write_off_, pending_write_.size() - write_off_);
    if (n > 0) {
      write_off_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      loop_.modify_fd(in_.get(), EPOLLOUT);
      return;
    } else {  // EPIPE: the child closed stdin / died; the exit path reports it
      pending_write_.clear();
      write_off_ = 0;
      close_fd(in_);
      return;
    }
  }
  pending_write_.clear();
  write_off_ = 0;
  loop_.modify_fd(in_.get(), 0);
  if (close_after_write_) close_fd(in_);
}

void ChildProcess::emit(bool is_stdout, std::string_view line, size_t capacity) {
  if (is_stdout) {
    if (cb_.on_stdout_line) cb_.on_stdout_line(line, capacity);
  } else if (cb_.on_stderr_line) {
    cb_.on_stderr_line(line);
  }
}

void ChildProcess::read_lines(int fd, LineSplitter& lines, bool is_stdout, bool final) {
  char chunk[65536];
  for (int rounds = 0; rounds < 16; ++rounds) {  // up to 1 MiB per wake-up keeps other sessions served
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines.append(chunk, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < sizeof chunk && !final) break;
  }
  lines.split(final, [&](std::string_view line, size_t capacity) {
    emit(is_stdout, line, capacity);
    return true;
  });
}

void ChildProcess::on_stdout(uint32_t events) {
  read_lines(out_.get(), outbuf_, true, false);
  if (events & (EPOLLHUP | EPOLLERR)) {
    read_lines(out_.get(), outbuf_, true, true);
    close_fd(out_);
  }
}

void ChildProcess::on_stderr(uint32_t events) {
  read_lines(err_.get(), errbuf_, false, false);
  if (events & (EPOLLHUP | EPOLLERR)) {
    read_lines(err_.get(), errbuf_, false, true);
    close_fd(err_);
  }
}

void ChildProcess::on_pidfd() {
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return;
  exited_ = true;
  // Whatever the child wrote before dying is read now; grandchildren holding the
  // pipes open must not delay the exit report.
  if (out_) read_lines(out_.get(), outbuf_, true, true);
  if (err_) read_lines(err_.get(), errbuf_, false, true);
  close_fd(out_);
  close_fd(err_);
  close_fd(in_);
  close_fd(pidfd_);
  kill(-pid_, SIGKILL);  // leftovers of the group (background tools)
  // The callback may destroy this object: run it from a local copy, touch nothing after.
  auto on_exit = std::move(cb_.on_exit);
  if (on_exit) on_exit(status);
}

void ChildProcess::kill_group(int sig) {
  if (pid_ > 0 && !exited_) kill(-pid_, sig);
}

ProcessFactory ChildProcess::factory(EventLoop& loop) {
  return [&loop](Callbacks cb) -> std::unique_ptr<Process> { return std::make_unique<ChildProcess>(loop, std::move(cb)); };
}

}  // namespace ccmux
