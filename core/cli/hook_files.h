// Reading and atomically replacing the files of `ccmux hooks`, keeping what the user set up:
// a symlinked settings.json is written through to its target, mode and owner stay.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ccmux::cli {

struct FilePerms {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct FileRead {
  bool exists = false;
  std::string target;  // where the bytes live: the path itself, or what its symlinks resolve to
  std::string text;
  FilePerms perms;     // when it exists
  nlink_t links = 0;
};

// Claude Code's settings are a few KiB; anything this big is not one.
constexpr size_t kMaxSettingsBytes = 16u << 20;

// Reads `path` (following symlinks when asked, else refusing one). A missing path is
// exists=false. Throws std::runtime_error naming the file for a dangling symlink, a loop,
// anything but a regular file (it never blocks on a FIFO), more than kMaxSettingsBytes, or a
// read error.
FileRead read_file_at(const std::string& path, bool follow_symlinks);

// Replaces `path` atomically: a temp file beside it, fsync, rename over it, fsync of the folder.
// The new file gets `perms` (mode; owner where we may, else no group access beyond others'),
// or the umask default. `path` must not be a symlink the caller wants kept (pass the target).
// Throws std::runtime_error naming the file; the temp file never stays behind.
void replace_file(const std::string& path, std::string_view text, const std::optional<FilePerms>& perms);

// unlink(2); a missing file is fine. Throws std::runtime_error otherwise.
void remove_file(const std::string& path);

}  // namespace ccmux::cli
