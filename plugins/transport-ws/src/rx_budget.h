// How much a WebSocket may have received that the daemon has not handled yet. Before login
// only the auth message (~80 bytes) is expected: the first message may be a few KiB, and the
// socket is not read again until the daemon has checked it. After login a message may be
// max_message_bytes, and reading pauses while that much waits for the daemon (lws then leaves
// the rest in the kernel's socket buffer), so neither side grows with what a client pushes.
#pragma once

#include <algorithm>
#include <cstddef>

namespace ccmux::ws {

constexpr size_t kPreAuthMessageBytes = 4096;

inline size_t message_limit(bool authenticated, size_t max_message_bytes) {
  return authenticated ? max_message_bytes : std::min(kPreAuthMessageBytes, max_message_bytes);
}

// Whether to stop reading the socket. `assembling`: bytes of the message being received;
// `waiting`: bytes of complete messages handed to the daemon and not handled yet;
// `posted_before_auth`: a complete message went to the daemon before login.
inline bool rx_should_pause(bool authenticated, bool posted_before_auth, size_t assembling, size_t waiting,
                            size_t max_message_bytes) {
  if (!authenticated) return posted_before_auth;
  return waiting > 0 && assembling + waiting >= max_message_bytes;
}

}  // namespace ccmux::ws
