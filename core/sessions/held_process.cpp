#include "sessions/held_process.h"

#include "claude_spawn.h"
#include "util.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ccmux {

namespace fs = std::filesystem;

namespace {

constexpr size_t kReadBudget = 1u << 20;  // spool bytes per wake-up: other sessions are served between

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

double mono_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Reads one whole frame from a blocking-with-deadline socket (the hello).
bool read_frame_until(int fd, double deadline, std::string& payload, std::string& error) {
  shim::FrameReader r;
  char buf[4096];
  for (;;) {
    std::string_view p;
    auto st = r.next(p);
    if (st == shim::FrameReader::Status::kFrame) {
      payload = std::string(p);
      return true;
    }
    if (st == shim::FrameReader::Status::kBad) {
      error = "bad frame from the holder";
      return false;
    }
    int left = static_cast<int>((deadline - mono_now()) * 1000);
    if (left <= 0) {
      error = "no hello from the holder in time";
      return false;
    }
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      error = n == 0 ? "the holder closed the connection" : std::string("read: ") + strerror(errno);
      return false;
    }
    r.feed(buf, static_cast<size_t>(n));
  }
}

// A blocking connect to a holder socket, checked with SO_PEERCRED (same user or root).
UniqueFd connect_holder(const std::string& path, std::string& error) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    error = "socket path too long: " + path;
    return {};
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = "connect " + path + ": " + strerror(errno);
    return {};
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != geteuid() && cred.uid != 0)) {
    error = "holder socket " + path + " belongs to another user";
    return {};
  }
  return fd;
}

// One whole frame on a socket of a short exchange (not a loop connection, which queues in out_).
bool send_frame(int fd, std::string_view payload, int flags = 0) {
  std::string frame = shim::encode_frame(payload);
  return ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | flags) == static_cast<ssize_t>(frame.size());
}

// fn(instance, path) for each "<instance>.sock" in `dir`.
template <class Fn>
void for_each_holder_socket(const std::string& dir, Fn fn) {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".sock") != 0) continue;
    fn(name.substr(0, name.size() - 5), e.path().string());
  }
}

// A holder frame saying claude has exited: `exited`, or a hello carrying exit_status.
bool announces_exit(std::string_view frame) {
  auto cmd = shim::split_command(frame);
  if (cmd.word == "exited") return true;
  if (cmd.word != "hello") return false;
  auto fields = shim::parse_fields(cmd.rest);
  return fields && std::any_of(fields->begin(), fields->end(), [](auto& kv) { return kv.first == "exit_status"; });
}

bool ensure_private_dir(const std::string& dir, std::string& error) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (chmod(dir.c_str(), 0700) != 0) {
    error = "cannot make " + dir + " private: " + strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HolderHub

HolderHub::HolderHub(EventLoop& loop, Store& store, HolderOptions opts) : loop_(loop), store_(store), opts_(std::move(opts)) {
  store_.set_commit_hooks([this] { before_commit(); }, [this] { after_commit(); });
}

HolderHub::~HolderHub() {
  store_.set_commit_hooks({}, {});
  for (auto& [fd, pid] : children_) {
    loop_.remove_fd(fd);
    close(fd);
  }
}

ProcessFactory HolderHub::factory() {
  return [this](Process::Callbacks cb) -> std::unique_ptr<Process> { return std::make_unique<HeldProcess>(*this, std::move(cb)); };
}

void HolderHub::watch_child(pid_t pid) {
  int fd = pidfd_open(pid);
  if (fd < 0) return;
  children_.emplace_back(fd, pid);
  loop_.add_fd(fd, EPOLLIN, [this, fd, pid](uint32_t) {
    if (waitpid(pid, nullptr, WNOHANG) == 0) return;
    loop_.remove_fd(fd);
    close(fd);
    children_.erase(std::remove_if(children_.begin(), children_.end(), [fd](auto& c) { return c.first == fd; }),
                    children_.end());
  });
}

void HolderHub::before_commit() {
  for (HeldProcess* p : live_)
    if (p->consumed_ != p->stored_) {
      store_.holder_set_position(p->instance_, p->consumed_.seg, p->consumed_.off);
      p->stored_ = p->consumed_;
    }
}

void HolderHub::after_commit() {
  std::vector<HeldProcess*> procs(live_.begin(), live_.end());
  for (HeldProcess* p : procs) {
    if (!live_.count(p)) continue;  // destroyed by an earlier one's callbacks
    // stored_ is what just committed. Segments wholly below it are no longer needed: the holder unlinks them.
    if (p->stored_.seg > p->committed_seg_told_ && p->connected_) {
      p->request("committed " + std::to_string(p->stored_.seg) + " " + std::to_string(p->stored_.off));
      p->committed_seg_told_ = p->stored_.seg;
    }
    for (auto& [tag, bytes] : p->after_commit_) {
      if (!p->connected_) break;
      p->request("stdin-once " + shim::pct_encode(tag) + " " + bytes);
    }
    p->after_commit_.clear();
  }
  // Exits reported to the sessions and committed: the holders may go, their spools too.
  auto retiring = std::move(retiring_);
  retiring_.clear();
  for (auto& r : retiring) {
    if (r.conn && !send_frame(r.conn.get(), "ack-exit", MSG_DONTWAIT))
      spdlog::debug("holder {}: ack-exit not sent: {}", r.instance, strerror(errno));
    std::error_code ec;
    fs::remove_all(r.spool, ec);
  }
}

std::unique_ptr<HeldProcess> HolderHub::adopt(const HolderRow& row, Process::Callbacks cb, std::string& why,
                                              bool& unadoptable) {
  unadoptable = false;
  auto p = std::make_unique<HeldProcess>(*this, std::move(cb));
  p->instance_ = row.instance;
  p->spool_ = row.spool;
  p->started_ms_ = row.started_ms;
  p->read_ = p->consumed_ = p->stored_ = {row.segment, row.offset};
  p->committed_seg_told_ = row.segment;
  if (!p->connect_and_hello(opts_.holders_dir + "/" + row.instance + ".sock", why, &unadoptable)) return nullptr;
  return p;
}

size_t HolderHub::stop_unknown(const std::set<std::string>& known) {
  size_t stopped = 0;
  std::error_code ec;
  std::set<std::string> sockets;
  for_each_holder_socket(opts_.holders_dir, [&](const std::string& instance, const std::string& path) {
    sockets.insert(instance);
    if (known.count(instance)) return;
    std::string err;
    UniqueFd fd = connect_holder(path, err);
    if (!fd) {  // nobody listens: a holder that died (or a reboot): the name is free again
      fs::remove(path, ec);
      return;
    }
    if (send_frame(fd.get(), "stop")) ++stopped;
    spdlog::info("holder {}: no session of ours: told to stop", instance);
  });
  for (auto& e : fs::directory_iterator(opts_.spool_dir, ec)) {
    std::string instance = e.path().filename().string();
    if (!known.count(instance) && !sockets.count(instance)) fs::remove_all(e.path(), ec);
  }
  return stopped;
}

size_t HolderHub::stop_all_in(const std::string& holders_dir, double wait_s) {
  std::vector<UniqueFd> conns;
  for_each_holder_socket(holders_dir, [&](const std::string&, const std::string& path) {
    std::string err;
    UniqueFd fd = connect_holder(path, err);
    std::error_code ec;
    if (!fd) fs::remove(path, ec);
    else if (send_frame(fd.get(), "stop")) conns.push_back(std::move(fd));
  });
  // Each holder ends once claude has exited and the exit is acknowledged: acknowledge every
  // exit (the sessions' state is corrected by the next ccmuxd: no holder left, exited).
  double deadline = mono_now() + wait_s;
  for (auto& fd : conns) {
    shim::FrameReader r;
    char buf[65536];
    bool done = false;
    while (!done && mono_now() < deadline) {
      pollfd pfd{fd.get(), POLLIN, 0};
      if (poll(&pfd, 1, 100) <= 0) continue;
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n <= 0) break;  // the holder ended
      r.feed(buf, static_cast<size_t>(n));
      std::string_view p;
      while (!done && r.next(p) == shim::FrameReader::Status::kFrame) {
        if (!announces_exit(p)) continue;
        send_frame(fd.get(), "ack-exit");
        done = true;
      }
    }
  }
  return conns.size();
}

// ---------------------------------------------------------------------------------------------
// HeldProcess

HeldProcess::HeldProcess(HolderHub& hub, Callbacks cb) : hub_(hub), cb_(std::move(cb)) {}

HeldProcess::~HeldProcess() {
  hub_.live_.erase(this);
  if (conn_) hub_.loop_.remove_fd(conn_.get());
  if (exit_reported_ && !instance_.empty()) {
    // The row goes in the transaction that holds the exit (and so makes sure there is one to
    // commit); the holder is acknowledged once it has committed. A crash before that finds the
    // row and the holder still there, reports the exit again from the hello and loses nothing.
    try {
      hub_.store_.holder_delete(instance_);
    } catch (const std::exception& e) {
      spdlog::error("holder {}: its row could not be deleted: {}", instance_, e.what());
    }
    hub_.retiring_.push_back({connected_ ? std::move(conn_) : UniqueFd(), instance_, spool_});
  }
  // Otherwise: detached. The holder keeps claude and its spool for the next ccmuxd.
}

std::string HeldProcess::segment_path(uint64_t seg) const { return spool_ + "/" + std::to_string(seg) + ".ndjson"; }

bool HeldProcess::spawn(const std::string& exe, const std::vector<std::string>& args, const std::string& cwd,
                        const std::map<std::string, std::string>& env_overrides, std::string& error) {
  const HolderOptions& o = hub_.opts_;
  if (!ensure_private_dir(o.holders_dir, error) || !ensure_private_dir(o.spool_dir, error)) return false;
  started_ms_ = now_ms();
  instance_ = unique_id("h-", [&](const std::string& id) {
    return fs::exists(o.holders_dir + "/" + id + ".sock") || fs::exists(o.spool_dir + "/" + id);
  });
  spool_ = o.spool_dir + "/" + instance_;
  const std::string socket_path = o.holders_dir + "/" + instance_ + ".sock";
  std::vector<std::string> argv_s = {o.shim_path, "--session", instance_, "--spool-dir", spool_, "--socket", socket_path,
                                     "--cwd", cwd, "--stop-grace",
                                     std::to_string(static_cast<int>(std::ceil(std::clamp(o.stop_grace_s, 0.0, 3600.0))))};
  for (auto& [k, v] : env_overrides) argv_s.insert(argv_s.end(), {"--env", k + "=" + v});
  argv_s.push_back("--");
  argv_s.push_back(exe);
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  UniqueFd rd, wr, devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!make_pipe(rd, wr) || !devnull) {
    error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  // Its own session (and group): a signal to ccmuxd's group or a closing terminal does not reach it.
  pid_t pid = -1;
  int rc = spawn_in_own_group(argv_s, "", {}, devnull.get(), wr.get(), wr.get(), pid, /*new_session=*/true);
  wr.reset();
  if (rc != 0) {
    error = "cannot start " + o.shim_path + ": " + strerror(rc);
    return false;
  }
  hub_.watch_child(pid);
  // One line: "ready holder_pid=N claude_pid=N", or the holder's reason for failing.
  std::string line;
  double deadline = mono_now() + o.start_timeout_s;
  for (char c; line.size() < 4096;) {
    int left = static_cast<int>((deadline - mono_now()) * 1000);
    if (left <= 0) break;
    pollfd pfd{rd.get(), POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    ssize_t n = ::read(rd.get(), &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  if (line.rfind("ready ", 0) != 0) {
    error = line.empty() ? "ccmux-shim did not start (no ready line in " + std::to_string(o.start_timeout_s) + " s)"
                         : "ccmux-shim: " + line;
    kill(pid, SIGKILL);
    return false;
  }
  if (!connect_and_hello(socket_path, error)) {
    kill(pid, SIGTERM);  // = stop: it ends claude
    return false;
  }
  HolderRow row{instance_, "", spool_, read_.seg, read_.off, started_ms_};
  hub_.store_.holder_insert(row);
  return true;
}

bool HeldProcess::connect_and_hello(const std::string& socket_path, std::string& error, bool* unadoptable) {
  UniqueFd fd = connect_holder(socket_path, error);
  if (!fd) return false;
  std::string hello;
  if (!read_frame_until(fd.get(), mono_now() + hub_.opts_.start_timeout_s, hello, error)) return false;
  auto cmd = shim::split_command(hello);
  auto fields = shim::parse_fields(cmd.rest);
  if (cmd.word != "hello" || !fields) {
    error = "the holder's first frame is not a hello";
    return false;
  }
  std::map<std::string, std::string> f(fields->begin(), fields->end());
  auto num = [&](const char* k) -> std::optional<uint64_t> {
    auto it = f.find(k);
    return it == f.end() ? std::nullopt : shim::parse_u64(it->second);
  };
  auto p = num("proto");
  if (!p || *p < kMinHolderProtocol || *p > kMaxHolderProtocol) {
    if (unadoptable) *unadoptable = true;
    error = "its holder speaks protocol " + (p ? std::to_string(*p) : std::string("?")) + " (holder " +
            (f.count("version") ? f["version"] : "?") + "); this ccmuxd speaks " + std::to_string(kMinHolderProtocol) +
            ".." + std::to_string(kMaxHolderProtocol) + ": finish or stop the session with the ccmuxd that started it";
    return false;
  }
  auto cpid = num("claude_pid"), hpid = num("holder_pid"), first = num("first_segment");
  if (!cpid || !hpid || !first || f["session"] != instance_ || f["spool"] != spool_) {
    error = "the holder's hello does not match " + instance_ + ": " + hello.substr(0, 300);
    return false;
  }
  claude_pid_ = static_cast<pid_t>(*cpid);
  holder_pid_ = static_cast<pid_t>(*hpid);
  claude_pidfd_.reset(pidfd_open(claude_pid_));
  if (read_.seg < *first) {  // the holder unlinked what we never committed: cannot happen unless files were touched
    spdlog::error("holder {}: spool starts at segment {}, beyond the stored position {}:{}; reading from there",
                  instance_, *first, read_.seg, read_.off);
    read_ = consumed_ = {*first, 0};
  }
  conn_ = std::move(fd);
  int fl = fcntl(conn_.get(), F_GETFL);
  fcntl(conn_.get(), F_SETFL, fl | O_NONBLOCK);
  connected_ = true;
  hub_.live_.insert(this);
  hub_.loop_.add_fd(conn_.get(), EPOLLIN, [this](uint32_t ev) { on_socket(ev); });
  if (auto st = num("exit_status")) {
    exit_status_ = static_cast<int>(*st);
    // Reported from the loop, once the owner holds this object and its callbacks.
    hub_.loop_.post([this, alive = std::weak_ptr<int>(alive_)] {
      if (!alive.expired()) on_claude_exited(exit_status_);
    });
  } else {
    hub_.loop_.post([this, alive = std::weak_ptr<int>(alive_)] {
      if (!alive.expired() && connected_) read_spool(false);  // what claude wrote while nobody read
    });
  }
  return true;
}

void HeldProcess::request(std::string_view payload, Expect reply) {
  if (!connected_) return;
  out_ += shim::encode_frame(payload);
  expect_.push_back(reply);  // every request gets exactly one reply, in order
  flush_out();
}

void HeldProcess::flush_out() {
  while (out_off_ < out_.size()) {
    ssize_t n = ::send(conn_.get(), out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
    if (n > 0) {
      out_off_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!waiting_writable_) hub_.loop_.modify_fd(conn_.get(), EPOLLIN | EPOLLOUT);
      waiting_writable_ = true;
      return;
    }
    return holder_lost(std::string("write to the holder: ") + strerror(errno));
  }
  out_.clear();
  out_off_ = 0;
  if (waiting_writable_) hub_.loop_.modify_fd(conn_.get(), EPOLLIN);
  waiting_writable_ = false;
}

void HeldProcess::write(std::string data) {
  if (!running()) return;
  request("stdin " + data);
}

void HeldProcess::write_after_commit(const std::string& tag, std::string data) {
  if (!running()) return;
  after_commit_.emplace_back(tag, std::move(data));
}

void HeldProcess::close_stdin() {
  // Protocol v1 has no stdin EOF: `stop` is claude's SIGTERM (its graceful end), then SIGKILL.
  if (!running()) return;
  request("stop");
}

void HeldProcess::kill_group(int sig) {
  if (!running()) return;
  request("signal " + std::to_string(sig));
}

void HeldProcess::on_socket(uint32_t events) {
  if (events & EPOLLOUT) flush_out();
  if (!connected_) return;
  char buf[65536];
  for (int rounds = 0; rounds < 64; ++rounds) {
    ssize_t n = ::read(conn_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) return holder_lost(n == 0 ? "its holder closed the connection" : std::string("read: ") + strerror(errno));
    frames_.feed(buf, static_cast<size_t>(n));
    std::string_view payload;
    for (;;) {
      auto st = frames_.next(payload);
      if (st == shim::FrameReader::Status::kNeedMore) break;
      if (st == shim::FrameReader::Status::kBad) return holder_lost("bad frame from its holder");
      std::weak_ptr<int> alive(alive_);
      handle_frame(payload);
      if (alive.expired() || !connected_) return;
    }
  }
}

void HeldProcess::handle_frame(std::string_view payload) {
  auto cmd = shim::split_command(payload);
  if (cmd.word == "more") {
    read_spool(false);
    return;
  }
  if (cmd.word == "exited") {
    auto st = shim::parse_u64(cmd.rest);
    on_claude_exited(st ? static_cast<int>(*st) : 0);
    return;
  }
  if (expect_.empty()) {
    spdlog::warn("holder {}: unexpected frame '{}'", instance_, payload.substr(0, 80));
    return;
  }
  Expect e = expect_.front();
  expect_.pop_front();
  if (e == Expect::stderr_bytes) {
    std::string_view bytes = cmd.word == "stderr" ? cmd.rest : std::string_view();
    size_t start = 0;
    while (start < bytes.size()) {
      size_t nl = bytes.find('\n', start);
      if (nl == std::string_view::npos) nl = bytes.size();
      if (nl > start) stderr_lines_.emplace_back(bytes.substr(start, nl - start));
      if (stderr_lines_.size() > 20) stderr_lines_.pop_front();
      start = nl + 1;
    }
    report_exit();
    return;
  }
  if (cmd.word == "ok") return;
  if (cmd.word == "already_answered") {
    spdlog::info("holder {}: claude already had the answer ({}): not written twice", instance_, cmd.rest.substr(0, 200));
  } else if (cmd.word == "duplicate") {
    spdlog::info("holder {}: claude already had {}: not written twice", instance_, cmd.rest.substr(0, 200));
  } else {
    spdlog::warn("holder {}: {}", instance_, payload.substr(0, 300));
  }
}

void HeldProcess::read_spool(bool final) {
  char chunk[65536];
  size_t budget = final ? SIZE_MAX : kReadBudget;
  std::weak_ptr<int> alive(alive_);
  for (;;) {
    if (!seg_fd_) {
      seg_fd_.reset(open(segment_path(read_.seg).c_str(), O_RDONLY | O_CLOEXEC));
      if (!seg_fd_) break;  // not created yet (nothing written)
    }
    if (budget == 0) break;  // the holder sends `more` again at once: the spool goes further
    ssize_t n = pread(seg_fd_.get(), chunk, std::min(sizeof chunk, budget), static_cast<off_t>(read_.off));
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) {
      split(chunk, static_cast<size_t>(n), false);
      if (alive.expired()) return;
      read_.off += static_cast<uint64_t>(n);
      budget -= static_cast<size_t>(n);
      continue;
    }
    // At the end of this segment. The next one exists only once this one is full: read this
    // one to its end once more, then go on there.
    struct stat sb;
    if (stat(segment_path(read_.seg + 1).c_str(), &sb) != 0) break;
    ssize_t again = pread(seg_fd_.get(), chunk, 1, static_cast<off_t>(read_.off));
    if (again > 0) continue;
    seg_fd_.reset();
    read_.seg += 1;
    read_.off = 0;
  }
  if (final) split(nullptr, 0, true);
  if (alive.expired()) return;
  if (connected_ && !final) {
    request("read " + std::to_string(read_.seg) + " " + std::to_string(read_.off));
  }
}

// Lines of claude's stdout, each with the spool position after it: set before the line is
// handed over, so a commit holds a line's events and the position after it, or neither (the
// supervisor defers commits while it handles a line). `data` starts at read_ (the caller
// advances read_ afterwards) and is all in one segment; every line handed over now ends in it.
void HeldProcess::split(const char* data, size_t n, bool final) {
  const uint64_t chunk_start = lines_.appended();
  const Pos base = read_;
  auto position = [&] { return Pos{base.seg, base.off + (lines_.consumed() - chunk_start)}; };
  if (n) lines_.append(data, n);
  std::weak_ptr<int> alive(alive_);
  bool owner_alive = lines_.split(final, [&](std::string_view line, size_t capacity) {
    consumed_ = position();
    emit(line, capacity);
    return !alive.expired();
  });
  // Bytes dropped without a line (the rest of a cut one) are consumed too.
  if (owner_alive && lines_.consumed() >= chunk_start) consumed_ = position();
}

void HeldProcess::emit(std::string_view line, size_t capacity) {
  if (cb_.on_stdout_line) cb_.on_stdout_line(line, capacity);
}

void HeldProcess::on_claude_exited(int status) {
  if (exit_seen_) return;
  exit_seen_ = true;
  exit_status_ = status;
  std::weak_ptr<int> alive(alive_);
  read_spool(true);  // after `exited` the spool is final
  if (alive.expired()) return;
  if (connected_) {
    request("stderr", Expect::stderr_bytes);  // report_exit() when it comes
  } else {
    report_exit();
  }
}

void HeldProcess::report_exit() {
  if (exit_reported_) return;
  exit_reported_ = true;
  for (auto& l : stderr_lines_)
    if (cb_.on_stderr_line) cb_.on_stderr_line(l);
  // The callback may destroy this object: run it from a local copy, touch nothing after.
  auto on_exit = std::move(cb_.on_exit);
  int status = exit_status_;
  if (on_exit) on_exit(status);
}

void HeldProcess::holder_lost(const std::string& why) {
  if (!connected_) return;
  connected_ = false;
  hub_.loop_.remove_fd(conn_.get());
  conn_.reset();
  if (exit_reported_) return;
  // Reported from the loop: this may run inside a commit hook or a write, where the owner's
  // exit handling (events, approvals) must not start.
  hub_.loop_.post([this, why, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired() || exit_reported_) return;
    if (exit_seen_) {  // lost while asking for stderr: report what we have
      report_exit();
      return;
    }
    // The holder is gone and claude with it (its pipes are closed): make sure, then report.
    spdlog::error("holder {} (pid {}) of claude pid {}: {}", instance_, holder_pid_, claude_pid_, why);
    if (claude_pidfd_) {
      syscall(SYS_pidfd_send_signal, claude_pidfd_.get(), SIGKILL, nullptr, 0);
      kill(-claude_pid_, SIGKILL);  // its group: claude's pid is not reused while its pidfd is open
    }
    exit_seen_ = true;
    exit_status_ = SIGKILL;  // a wait status: killed by SIGKILL
    read_spool(true);
    if (alive.expired()) return;
    stderr_lines_.push_back("its holder ccmux-shim (pid " + std::to_string(holder_pid_) + ") ended: " + why);
    report_exit();
  });
}

}  // namespace ccmux
