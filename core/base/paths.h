// XDG (user) and FHS (system service) default locations, shared by ccmuxd and ccmux.
#pragma once
#include <string>

namespace ccmux {

// System mode: running as the packaged service (CCMUX_SYSTEM=1, set by ccmuxd.service).
bool system_mode();
std::string default_config_path();   // $XDG_CONFIG_HOME/ccmux/config.yaml | /etc/ccmux/config.yaml
std::string default_state_dir();     // $XDG_STATE_HOME/ccmux | /var/lib/ccmux
std::string default_socket_path();   // $XDG_RUNTIME_DIR/ccmux/ccmuxd.sock | /run/ccmux/ccmuxd.sock
// Where the ccmux client looks, in order: $CCMUX_DAEMON_SOCKET, the user socket, the system socket.
std::string find_daemon_socket();

// The install prefix this program runs from: P when /proc/self/exe is P/<bindir>/<name>
// (bindir as installed, "bin"); "" otherwise (a build tree). Installed files are looked up
// relative to it first, so a tree built for /usr/local and packaged under /usr (the .deb)
// finds its own plugins; the paths compiled in are the fallback.
std::string self_install_prefix();

// This program's own path (/proc/self/exe, resolved), "" when unknown.
std::string self_exe();
// `name` in this program's directory (another ccmux binary installed beside it), "" when unknown.
std::string beside_self(const std::string& name);

}  // namespace ccmux
