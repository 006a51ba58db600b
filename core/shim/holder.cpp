#include "shim/holder.h"

#include "claude_spawn.h"
#include "version.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>


namespace ccmux::shim {

namespace {
// FNV-1a over the bytes, then splitmix64's finalizer to spread them over all 64 bits.
uint64_t hash64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}
}  // namespace

bool Recent::contains(std::string_view s) const {
  uint64_t h = hash64(s);
  for (uint64_t x : ring_)
    if (x == h) return true;
  return false;
}

void Recent::add(std::string_view s) {
  if (contains(s)) return;
  if (ring_.size() < cap_) {
    ring_.push_back(hash64(s));
    return;
  }
  ring_[next_] = hash64(s);
  next_ = (next_ + 1) % cap_;
}

namespace {

int64_t now_ms(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

std::string errno_text(const std::string& what) { return what + ": " + strerror(errno); }

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// "<n>.ndjson" with n >= 1 and no leading zero.
std::optional<uint64_t> segment_number(const char* name) {
  std::string_view s(name);
  constexpr std::string_view kExt = ".ndjson";
  if (s.size() <= kExt.size() || s.substr(s.size() - kExt.size()) != kExt) return std::nullopt;
  s.remove_suffix(kExt.size());
  if (s[0] == '0') return std::nullopt;
  return parse_u64(s);
}

}  // namespace

std::string Holder::segment_path(uint64_t n) const { return o_.spool_dir + "/" + std::to_string(n) + ".ndjson"; }

std::string Holder::open_segment(uint64_t n) {
  UniqueFd fd(::open(segment_path(n).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return errno_text("cannot open " + segment_path(n));
  struct stat st{};
  fstat(fd.get(), &st);
  seg_fd_ = std::move(fd);
  seg_ = n;
  seg_size_ = static_cast<uint64_t>(st.st_size);
  return "";
}

std::string Holder::start() {
  if (o_.argv.empty()) return "no claude command after --";
  // The spool: created when missing; numbering continues after what is there (a holder never
  // writes into a segment it did not create, so a committed position stays meaningful).
  if (mkdir(o_.spool_dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_text("cannot create " + o_.spool_dir);
  struct stat st{};
  if (lstat(o_.spool_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return o_.spool_dir + " is not a directory";
  uint64_t lo = 0, hi = 0;
  if (DIR* d = opendir(o_.spool_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (auto n = segment_number(e->d_name)) {
        lo = lo == 0 ? *n : std::min(lo, *n);
        hi = std::max(hi, *n);
      }
    }
    closedir(d);
  } else {
    return errno_text("cannot read " + o_.spool_dir);
  }
  first_seg_ = lo == 0 ? 1 : lo;
  if (auto e = open_segment(hi + 1); !e.empty()) return e;

  // The socket: its directory is ours and closed to others; an existing path is never taken over.
  std::string dir = o_.socket_path.substr(0, o_.socket_path.rfind('/'));
  if (dir.empty()) dir = "/";
  if (stat(dir.c_str(), &st) != 0) return errno_text("socket directory " + dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
    return "socket directory " + dir + " must be a directory of this user with mode 0700";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (o_.socket_path.size() >= sizeof addr.sun_path) return "socket path too long: " + o_.socket_path;
  memcpy(addr.sun_path, o_.socket_path.c_str(), o_.socket_path.size() + 1);
  listen_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) return errno_text("socket");
  mode_t old = umask(077);
  int rc = bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0) return errno_text("cannot bind " + o_.socket_path);
  chmod(o_.socket_path.c_str(), 0600);
  if (listen(listen_.get(), 4) != 0) {
    unlink(o_.socket_path.c_str());
    return errno_text("listen");
  }

  // Signals arrive on a descriptor; claude gets them all back at their defaults.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // A spool write past the file size limit fails with EFBIG and is retried like a full disk;
  // by default SIGXFSZ would end the holder, and claude with it.
  signal(SIGXFSZ, SIG_IGN);
  sigfd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));

  // claude, as ChildProcess starts it (base/claude_spawn.h).
  UniqueFd in_child, out_child, err_child;
  if (!make_pipe(in_child, in_) || !make_pipe(out_, out_child) || !make_pipe(err_, err_child)) {
    unlink(o_.socket_path.c_str());
    return errno_text("pipe");
  }
  std::map<std::string, std::string> env_overrides;
  for (auto& [k, v] : o_.env) env_overrides[k] = v;  // a later --env K=V wins
  rc = spawn_in_own_group(o_.argv, o_.cwd, env_overrides, in_child.get(), out_child.get(), err_child.get(), pid_);
  if (rc != 0) {
    pid_ = -1;
    unlink(o_.socket_path.c_str());
    return "cannot start " + o_.argv[0] + (o_.cwd.empty() ? "" : " in " + o_.cwd) + ": " + strerror(rc);
  }
  started_ms_ = now_ms(CLOCK_REALTIME);
  set_nonblock(in_.get());
  set_nonblock(out_.get());
  set_nonblock(err_.get());
  return "";
}

// ---- spool ----

bool Holder::flush_spool() {
  size_t off = 0;
  while (off < spool_pending_.size()) {
    if (seg_size_ >= o_.segment_bytes) {  // rotate: the next segment exists only once this one is final
      if (!open_segment(seg_ + 1).empty()) break;
      continue;
    }
    size_t n = std::min<uint64_t>(spool_pending_.size() - off, o_.segment_bytes - seg_size_);
    ssize_t w = ::write(seg_fd_.get(), spool_pending_.data() + off, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;  // ENOSPC, EIO...: kept, retried on the next timeout
    off += static_cast<size_t>(w);
    seg_size_ += static_cast<uint64_t>(w);
  }
  spool_pending_.erase(0, off);
  if (spool_pending_.capacity() > (1u << 20) && spool_pending_.size() < (64u << 10)) spool_pending_.shrink_to_fit();
  if (off > 0) notify_more();
  return spool_pending_.empty();
}

void Holder::append_stdout(const char* data, size_t n) {
  spool_pending_.append(data, n);
  flush_spool();
}

void Holder::read_stdout(bool to_eof) {
  static char chunk[65536];
  for (int rounds = 0; out_ && (to_eof || rounds < 16); ++rounds) {
    if (!spool_pending_.empty() && !to_eof) return;  // the disk is behind: claude waits on its pipe
    ssize_t n = read(out_.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN
    if (n == 0) {       // EOF: claude (and everything holding the pipe) closed it
      out_.reset();
      return;
    }
    append_stdout(chunk, static_cast<size_t>(n));
  }
}

void Holder::read_stderr() {
  static char chunk[16384];
  for (int rounds = 0; err_ && rounds < 16; ++rounds) {
    ssize_t n = read(err_.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    if (n == 0) {
      err_.reset();
      return;
    }
    err_ring_.append(chunk, static_cast<size_t>(n));
    if (err_ring_.size() > 2 * kStderrRing) err_ring_.erase(0, err_ring_.size() - kStderrRing);
  }
}

// ---- claude ----

void Holder::kill_group(int sig) {
  if (pid_ > 0 && !exited_) kill(-pid_, sig);
}

void Holder::reap() {
  int status = 0;
  if (pid_ > 0 && !exited_ && waitpid(pid_, &status, WNOHANG) == pid_) on_exited(status);
}

void Holder::on_exited(int status) {
  exited_ = true;
  status_ = status;
  kill(-pid_, SIGKILL);  // leftovers of the group (background tools), as ChildProcess does
  // What claude wrote before it died is in the pipe: all of it goes to the spool before
  // `exited` is sent, so after `exited` the spool is final. A descendant that left the group
  // and keeps the pipe open must not hold the report back: read until empty, not until EOF.
  if (out_) {
    set_nonblock(out_.get());
    for (;;) {
      static char chunk[65536];
      ssize_t n = read(out_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      append_stdout(chunk, static_cast<size_t>(n));
    }
  }
  read_stderr();
  out_.reset();
  err_.reset();
  in_.reset();
  stdin_q_.clear();
  stdin_q_bytes_ = stdin_off_ = 0;
  kill_at_ms_ = -1;
  if (client_) send("exited " + std::to_string(status));
}

void Holder::write_stdin() {
  while (in_ && !stdin_q_.empty()) {
    const std::string& f = stdin_q_.front();
    ssize_t n = ::write(in_.get(), f.data() + stdin_off_, f.size() - stdin_off_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {  // EPIPE: claude closed its stdin or died; the exit path reports it
      in_.reset();
      stdin_q_.clear();
      stdin_q_bytes_ = stdin_off_ = 0;
      return;
    }
    stdin_off_ += static_cast<size_t>(n);
    if (stdin_off_ == f.size()) {
      stdin_q_bytes_ -= f.size();
      stdin_q_.pop_front();
      stdin_off_ = 0;
    }
  }
}

// ---- client ----

void Holder::send(std::string_view payload) {
  if (!client_) return;
  out_buf_ += encode_frame(payload);
  write_client();
}

void Holder::write_client() {
  while (client_ && out_off_ < out_buf_.size()) {
    ssize_t n = ::send(client_.get(), out_buf_.data() + out_off_, out_buf_.size() - out_off_, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      drop_client();
      return;
    }
    out_off_ += static_cast<size_t>(n);
  }
  out_buf_.clear();
  out_off_ = 0;
  if (out_buf_.capacity() > (1u << 20)) out_buf_.shrink_to_fit();
}

void Holder::drop_client() {
  client_.reset();
  in_frames_.clear();
  std::string().swap(out_buf_);
  out_off_ = 0;
  more_outstanding_ = false;
}

void Holder::notify_more() {
  if (!client_ || more_outstanding_) return;
  more_outstanding_ = true;
  send("more " + std::to_string(seg_) + " " + std::to_string(seg_size_));
}

std::string Holder::hello() const {
  std::string h = "hello proto=" + std::to_string(kHelloProtocol) + " version=" + pct_encode(kVersion) +
                  " session=" + pct_encode(o_.session) + " claude_pid=" + std::to_string(pid_) +
                  " holder_pid=" + std::to_string(getpid()) + " spool=" + pct_encode(o_.spool_dir) +
                  " first_segment=" + std::to_string(first_seg_) + " segment=" + std::to_string(seg_) +
                  " size=" + std::to_string(seg_size_) + " segment_bytes=" + std::to_string(o_.segment_bytes) +
                  " started_ms=" + std::to_string(started_ms_);
  if (exited_) h += " exit_status=" + std::to_string(status_);
  if (stop_requested_) h += " stopping=1";
  return h;
}

void Holder::accept_client() {
  UniqueFd c(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!c) return;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != geteuid() && cred.uid != 0))
    return;  // closed unanswered
  // A restarted ccmuxd connects right after its old connection closed: that EOF is read first.
  if (client_) read_client();
  if (client_) {  // one client at a time; the one connected keeps the holder
    std::string busy = encode_frame("error busy another client is connected");
    (void)!::send(c.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return;
  }
  client_ = std::move(c);
  more_outstanding_ = false;  // hello says where the spool ends
  send(hello());
}

void Holder::read_client() {
  static char chunk[65536];
  for (int rounds = 0; client_ && rounds < 64; ++rounds) {
    ssize_t n = recv(client_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      drop_client();
      return;
    }
    // An oversized length is refused at its header, with at most this chunk buffered.
    in_frames_.feed(chunk, static_cast<size_t>(n));
    for (;;) {
      std::string_view payload;
      auto st = in_frames_.next(payload);
      if (st == FrameReader::Status::kNeedMore) break;
      if (st == FrameReader::Status::kBad) {
        drop_client();
        return;
      }
      handle(payload);
      if (!client_) return;
    }
    if (out_buf_.size() - out_off_ > (1u << 20)) return;  // the client does not read: stop reading it too
  }
}

bool Holder::handle_stdin(std::string_view bytes) {
  auto refuse = [&](std::string_view why) {
    send(why);
    return false;
  };
  if (exited_) return refuse("error exited claude has exited");
  if (!in_) return refuse("error stdin-closed claude closed its stdin");
  if (stdin_q_bytes_ + bytes.size() > kMaxStdinQueue) return refuse("error stdin-full the stdin queue is full");
  // A control_response for a request already answered is dropped, line by line; the others go.
  std::string kept, dropped;
  bool any_dropped = false;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t nl = bytes.find('\n', pos);
    size_t end = nl == std::string_view::npos ? bytes.size() : nl + 1;
    std::string_view line = bytes.substr(pos, end - pos);
    std::string_view body = line;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
    bool drop = false;
    if (auto cr = scan_control_response(body)) {
      if (answered_.contains(cr->request_id)) {
        drop = true;
        dropped += " " + pct_encode(cr->request_id) + " " + (cr->behavior.empty() ? "-" : pct_encode(cr->behavior));
      } else {
        answered_.add(cr->request_id);
      }
    }
    if (drop) {
      if (!any_dropped) kept.assign(bytes.substr(0, pos));  // copy only once something is cut out
      any_dropped = true;
    } else if (any_dropped) {
      kept.append(line);
    }
    pos = end;
  }
  std::string frame = any_dropped ? std::move(kept) : std::string(bytes);
  if (!frame.empty()) {
    stdin_q_bytes_ += frame.size();
    stdin_q_.push_back(std::move(frame));
    write_stdin();
  }
  send(any_dropped ? "already_answered" + dropped : "ok");
  return true;
}

// "stdin-once <tag> <bytes>": `stdin`, unless a frame with this tag was accepted before (a
// ccmuxd that crashed re-sends a prompt it may have delivered; the holder knows).
void Holder::handle_stdin_once(std::string_view rest) {
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos || sp + 1 == rest.size()) return drop_client();
  std::string_view encoded = rest.substr(0, sp);
  auto tag = decode_tag(encoded);
  if (!tag) return drop_client();
  if (stdin_tags_.contains(*tag)) return send("duplicate " + std::string(encoded));
  if (handle_stdin(rest.substr(sp + 1))) stdin_tags_.add(*tag);
}

void Holder::handle(std::string_view payload) {
  auto [word, rest] = split_command(payload);
  uint64_t a = 0, b = 0;
  if (word == "stdin" && payload.size() > 6) {
    handle_stdin(rest);
    return;
  }
  if (word == "stdin-once") return handle_stdin_once(rest);
  if (word == "committed" || word == "read") {
    if (!parse_two_u64(rest, a, b) || a == 0 || a > seg_ || (a == seg_ && b > seg_size_)) return drop_client();
    if (word == "committed") {
      for (; first_seg_ < a; ++first_seg_) unlink(segment_path(first_seg_).c_str());
    }
    more_outstanding_ = false;
    send("ok");
    if (a < seg_ || b < seg_size_) notify_more();
    return;
  }
  if (word == "signal") {
    auto n = parse_u64(rest);
    if (!n || *n < 1 || *n > 64) return drop_client();
    if (exited_) return send("error exited claude has exited");
    kill_group(static_cast<int>(*n));
    return send("ok");
  }
  if (rest.empty() && payload.size() == word.size()) {
    if (word == "stop") {
      send("ok");
      if (!stop_requested_ && !exited_) {
        kill_group(SIGTERM);
        kill_at_ms_ = now_ms(CLOCK_MONOTONIC) + int64_t{o_.stop_grace_s} * 1000;
      }
      stop_requested_ = true;
      return;
    }
    if (word == "ack-exit") {
      if (!exited_) return send("error not-exited claude is running");
      ack_exit_ = true;
      return send("ok");
    }
    if (word == "stderr") {
      std::string_view r = err_ring_;
      if (r.size() > kStderrRing) r = r.substr(r.size() - kStderrRing);
      return send("stderr " + std::string(r));
    }
  }
  drop_client();  // unknown or malformed: this client is not speaking protocol 1
}

// ---- loop ----

bool Holder::done() const { return exited_ && (ack_exit_ || (stop_requested_ && !client_)); }

int Holder::run() {
  while (!done()) {
    enum { kListen, kClient, kOut, kErr, kIn, kSig, kCount };
    pollfd p[kCount];
    auto set = [&](int i, const UniqueFd& fd, short ev) { p[i] = {fd ? fd.get() : -1, ev, 0}; };
    set(kListen, listen_, POLLIN);
    short cev = (out_buf_.size() - out_off_ > (1u << 20) ? 0 : POLLIN) | (out_off_ < out_buf_.size() ? POLLOUT : 0);
    set(kClient, client_, cev);
    set(kOut, out_, POLLIN);
    if (!spool_pending_.empty()) p[kOut].fd = -1;  // the disk is behind: claude waits (and no POLLHUP spin)
    set(kErr, err_, POLLIN);
    set(kIn, in_, stdin_q_.empty() ? 0 : POLLOUT);
    set(kSig, sigfd_, POLLIN);
    int timeout = -1;
    if (!spool_pending_.empty()) timeout = 1000;
    if (kill_at_ms_ >= 0) {
      int64_t left = std::max<int64_t>(0, kill_at_ms_ - now_ms(CLOCK_MONOTONIC));
      timeout = timeout < 0 ? static_cast<int>(left) : std::min<int>(timeout, static_cast<int>(left));
    }
    int rc = poll(p, kCount, timeout);
    if (rc < 0 && errno != EINTR) return 1;
    if (!spool_pending_.empty()) flush_spool();
    if (kill_at_ms_ >= 0 && now_ms(CLOCK_MONOTONIC) >= kill_at_ms_) {
      kill_group(SIGKILL);
      kill_at_ms_ = -1;
    }
    if (rc <= 0) continue;
    // claude's output first, so an exit seen in the same round finds the spool complete.
    if (p[kOut].revents) read_stdout(false);
    if (p[kErr].revents) read_stderr();
    if (p[kIn].revents & (POLLERR | POLLHUP)) {
      in_.reset();  // claude closed its stdin
      stdin_q_.clear();
      stdin_q_bytes_ = stdin_off_ = 0;
    } else if (p[kIn].revents) {
      write_stdin();
    }
    if (p[kSig].revents) {
      signalfd_siginfo si;
      while (read(sigfd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !stop_requested_) {
          stop_requested_ = true;  // as `stop`
          kill_group(SIGTERM);
          kill_at_ms_ = now_ms(CLOCK_MONOTONIC) + int64_t{o_.stop_grace_s} * 1000;
        }
      }
      reap();
    }
    if (p[kClient].revents & POLLOUT) write_client();
    if (client_ && (p[kClient].revents & (POLLIN | POLLHUP | POLLERR))) read_client();
    if (p[kListen].revents) accept_client();
  }
  write_client();  // the last `ok` (best effort: the socket buffer holds it)
  unlink(o_.socket_path.c_str());
  return 0;
}

}  // namespace ccmux::shim
