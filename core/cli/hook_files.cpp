#include "hook_files.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace ccmux::cli {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  std::string hint = err == EPERM ? " (immutable or append-only? see lsattr)" : "";
  throw std::runtime_error(what + ": " + std::strerror(err) + hint);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The target of a symlinked path, with a clear error when there is none.
std::string resolve(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf)) return buf;
  int err = errno;
  if (err == ELOOP) throw std::runtime_error(path + " is a symlink loop; fix or remove it (nothing was changed)");
  std::error_code ec;
  std::string to = fs::read_symlink(path, ec).string();
  if (err == ENOENT)
    throw std::runtime_error(path + " is a symlink to " + to +
                             ", which does not exist; create it or remove the link (nothing was changed)");
  fail("cannot resolve the symlink " + path + " (to " + to + ")", err);
}

}  // namespace

FileRead read_file_at(const std::string& path, bool follow_symlinks) {
  FileRead r;
  r.target = path;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) return r;
    fail("cannot read " + path, err);
  }
  if (S_ISLNK(st.st_mode)) {
    if (!follow_symlinks) throw std::runtime_error(path + " is a symlink; ccmux did not make it, so it leaves it alone");
    r.target = resolve(path);
  }
  // O_NONBLOCK: a FIFO named settings.json must not hang us; checked below.
  Fd f{open(r.target.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (follow_symlinks ? 0 : O_NOFOLLOW))};
  if (int err = errno; f.fd < 0) fail("cannot read " + r.target, err);
  if (fstat(f.fd, &st) != 0) {
    int err = errno;
    fail("cannot read " + r.target, err);
  }
  std::string which = r.target == path ? path : path + " (-> " + r.target + ")";
  if (S_ISDIR(st.st_mode)) throw std::runtime_error(which + " is a directory, not a settings file (nothing was changed)");
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error(which + " is not a regular file (a FIFO, socket or device); nothing was changed");
  if (static_cast<size_t>(st.st_size) > kMaxSettingsBytes)
    throw std::runtime_error(which + " is " + std::to_string(st.st_size) + " bytes; ccmux edits settings files up to " +
                             std::to_string(kMaxSettingsBytes >> 20) + " MiB (nothing was changed)");
  r.exists = true;
  r.perms = {static_cast<mode_t>(st.st_mode & 07777), st.st_uid, st.st_gid};
  r.links = st.st_nlink;
  char buf[65536];
  for (;;) {
    ssize_t n = read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (int err = errno; n < 0) fail("cannot read " + which, err);
    if (n == 0) break;
    r.text.append(buf, static_cast<size_t>(n));
    if (r.text.size() > kMaxSettingsBytes)  // it grew while we read
      throw std::runtime_error(which + " is over " + std::to_string(kMaxSettingsBytes >> 20) + " MiB (nothing was changed)");
  }
  return r;
}

void replace_file(const std::string& path, std::string_view text, const std::optional<FilePerms>& perms) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  std::string tmp = path + ".ccmux-tmp.XXXXXX";
  Fd f{mkostemp(tmp.data(), O_CLOEXEC)};  // 0600 until it is complete: never more readable than the original
  if (int err = errno; f.fd < 0)
    fail("cannot create a temporary file in " + dir.string() + " to replace " + path +
             " (ccmux replaces settings atomically, so it must write in that folder)",
         err);
  auto abandon = [&](const std::string& what) {
    int err = errno;
    close(f.fd);
    f.fd = -1;
    unlink(tmp.c_str());
    fail(what, err);
  };
  for (size_t done = 0; done < text.size();) {
    ssize_t n = write(f.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) abandon("cannot write " + tmp);
    done += static_cast<size_t>(n);
  }
  mode_t mode;
  if (perms) {
    mode = perms->mode;
    if ((perms->uid != geteuid() || perms->gid != getegid()) && fchown(f.fd, perms->uid, perms->gid) != 0 &&
        fchown(f.fd, static_cast<uid_t>(-1), perms->gid) != 0)
      mode = (mode & ~S_IRWXG) | ((mode & S_IRWXO) << 3);  // our group is not theirs: it gets what others get
  } else {
    mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  if (fchmod(f.fd, mode) != 0) abandon("cannot set the mode of " + tmp);
  if (fsync(f.fd) != 0) abandon("cannot write " + tmp);
  int fd = f.fd;
  f.fd = -1;
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    fail("cannot write " + tmp, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    fail("cannot replace " + path, err);
  }
  Fd d{open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0) fsync(d.fd);  // the rename itself survives a crash
}

void remove_file(const std::string& path) {
  if (unlink(path.c_str()) != 0)
    if (int err = errno; err != ENOENT) fail("cannot remove " + path, err);
}

}  // namespace ccmux::cli
