// Boundary: WebSocket clients of transport-ws. The real plugin library runs in the real
// plugin host on a loopback port; each input is one connection's frames after the HTTP
// upgrade. Messages reach the daemon through the plugin's authentication and the host's
// in-daemon protocol client, as a phone's do.
//
// Input: one frame per line. A plain line is a final text frame. "~<op>[-] <payload>" is a
// frame with opcode <op> (hex digit: 0 continuation, 1 text, 2 binary, 8 close, 9 ping,
// a pong, others reserved), "-" = not final. A first line "RAW" sends the rest as bytes.
// @TOKEN@ and @SESSION@ become a valid token and a live session. The harness masks every
// frame and adds a hello and a ping request: its answer means the daemon handled every message before
// it; then a close frame and a half-close, and it reads until the server closes. A RAW
// input ends with the half-close alone. Every text frame the server sends must be one JSON
// object.
#include "fuzz_daemon.h"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace ccmux;

namespace {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    std::abort();
  close(fd);
  return ntohs(a.sin_port);
}

int g_port = 0;

fuzz::FuzzDaemon& daemon() {
  static auto* d = [] {
    g_port = free_port();
    fuzz::DaemonSetup s;
    s.start_plugins = true;
    s.rotate_every = 5000;
    s.extra_yaml = std::string("plugins:\n  - name: transport-ws\n    required: true\n    search_dir: ") +
                   CCMUX_FUZZ_PLUGIN_DIR + "\n    listen: 127.0.0.1\n    port: " + std::to_string(g_port) +
                   "\n    auth_max_failures: 1000000\n    auth_timeout_s: 5\n    max_message_bytes: 1048576\n";
    return new fuzz::FuzzDaemon(s);
  }();
  return *d;
}

void append_frame(std::string& out, int opcode, bool fin, const std::string& payload) {
  static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  out += static_cast<char>((fin ? 0x80 : 0) | (opcode & 0x0f));
  size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(0x80 | n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff);
  }
  out.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ mask[i % 4]);
}

std::string frames_from(std::string_view input, const fuzz::FuzzDaemon& d, bool& raw) {
  std::string out;
  auto lines = fuzz::lines_of(input);
  raw = !lines.empty() && lines[0] == "RAW";
  if (raw) {
    out = d.substitute(input.substr(std::min(input.size(), size_t{4})));
  } else {
    for (auto line : lines) {
      int opcode = 1;
      bool fin = true;
      if (line.size() >= 2 && line[0] == '~' && std::isxdigit(static_cast<unsigned char>(line[1]))) {
        opcode = std::stoi(std::string(1, line[1]), nullptr, 16);
        line.remove_prefix(2);
        if (!line.empty() && line[0] == '-') {
          fin = false;
          line.remove_prefix(1);
        }
        if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
      }
      append_frame(out, opcode, fin, d.substitute(line));
    }
  }
  return out;
}

int connect_ws() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(g_port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "transport-ws does not accept connections on port %d: %s\n", g_port, strerror(errno));
    std::abort();
  }
  std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(g_port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) std::abort();
  std::string head;
  char c;
  while (head.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1 || recv(fd, &c, 1, 0) != 1) {
      std::fprintf(stderr, "transport-ws did not answer the WebSocket upgrade (got: %s)\n", head.c_str());
      std::abort();
    }
    head += c;
  }
  if (head.rfind("HTTP/1.1 101", 0) != 0) {
    std::fprintf(stderr, "transport-ws refused the WebSocket upgrade: %s\n", head.c_str());
    std::abort();
  }
  return fd;
}

constexpr const char* kSentinel = R"({"type":"request","id":"fuzz-end","method":"ping"})";

// Server-to-client frames (unmasked): every complete text frame must be one JSON object.
// True when the answer to the sentinel request came.
bool check_server_frames(std::string& buf) {
  bool sentinel = false;
  for (;;) {
    if (buf.size() < 2) return sentinel;
    auto* p = reinterpret_cast<const unsigned char*>(buf.data());
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) {
      if (buf.size() < 4) return sentinel;
      len = (uint64_t{p[2]} << 8) | p[3];
      hl = 4;
    } else if (len == 127) {
      if (buf.size() < 10) return sentinel;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      hl = 10;
    }
    if (buf.size() < hl + len) return sentinel;
    if ((p[0] & 0x0f) == 1) {
      auto j = nlohmann::json::parse(buf.begin() + static_cast<long>(hl), buf.begin() + static_cast<long>(hl + len),
                                     nullptr, false);
      static const bool verbose = std::getenv("CCMUX_FUZZ_VERBOSE") != nullptr;
      if (verbose) std::fprintf(stderr, "<- %.200s\n", buf.substr(hl, len).c_str());
      if (j.is_discarded() || !j.is_object()) {
        std::fprintf(stderr, "transport-ws sent a text frame that is not a JSON object: %.300s\n",
                     buf.substr(hl, len).c_str());
        std::abort();
      }
      if (j.contains("id") && j["id"] == "fuzz-end") sentinel = true;
    }
    buf.erase(0, hl + len);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& d = daemon();
  Core& core = d.begin_input();
  bool raw = false;
  std::string bytes = frames_from(std::string_view(reinterpret_cast<const char*>(data), size), d, raw);
  // Frames: then a ping whose answer means every message before it was handled (the
  // daemon answers in order), then the close. Raw bytes: then EOF (lws closes on it).
  if (!raw) {  // (a hello first: the input may have left the client without one)
    append_frame(bytes, 1, true, R"({"type":"hello","protocol":1})");
    append_frame(bytes, 1, true, kSentinel);
  }
  int fd = connect_ws();
  // The lws thread reads while we write; daemon-side work waits in the loop's queue.
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed on us (bad frame, too big): fine
    off += static_cast<size_t>(n);
  }
  auto finish = [fd] {
    std::string close_frame;
    append_frame(close_frame, 8, true, std::string("\x03\xe8", 2));  // 1000
    (void)!send(fd, close_frame.data(), close_frame.size(), MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
  };
  if (raw) shutdown(fd, SHUT_WR);
  std::string rx;
  bool closed = false, finished = raw;
  core.loop.add_fd(fd, EPOLLIN, [&](uint32_t) {
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      rx.append(buf, static_cast<size_t>(n));
      if (check_server_frames(rx) && !finished) {
        finished = true;
        finish();
      }
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    closed = true;
    core.loop.stop();
  });
  // Every answer takes milliseconds here; a connection stuck longer is reported, not waited for.
  auto timer = core.loop.add_timer(1, [&] { core.loop.stop(); });
  core.loop.run();
  core.loop.cancel_timer(timer);
  core.loop.remove_fd(fd);
  close(fd);
  if (!closed) {
    static int reported = 0;
    if (reported++ < 5)
      std::fprintf(stderr, "transport-ws: no answer to the final ping and no close within 1 s (%s)\n",
                   finished ? "after the close frame" : "before it");
  }
  d.end_input();
  return 0;
}
