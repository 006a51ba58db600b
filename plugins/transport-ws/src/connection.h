// One HTTP request or WebSocket connection, shared between the libwebsockets thread
// (which owns the socket) and the ccmuxd loop thread (which owns the protocol client).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

struct lws;

namespace ccmux::ws {

struct Connection {
  enum class Kind { websocket, http };
  Connection(uint64_t id_, Kind kind_, std::string address_) : id(id_), kind(kind_), address(std::move(address_)) {}

  const uint64_t id;
  const Kind kind;
  const std::string address;  // peer IP, for rate limiting and logs

  // ---- loop thread only ----
  std::string token_name;   // which token it logged in with (revocation closes it)
  bool auth_tried = false;

  // ---- both threads, under `mu` ----
  std::mutex mu;
  // Messages waiting for the socket, already framed (RFC 6455), after LWS_PRE bytes of headroom.
  std::string out;
  size_t out_messages = 0;
  int close_code = 0;           // non-zero: close with this code
  bool close_now = false;       // drop what is queued (overflow) instead of flushing first
  std::string close_reason;
  bool paused = false;          // the daemon holds its events back (queue over the high mark)
  int64_t paused_since_ms = 0;
  // HTTP answer, once known
  int http_status = 0;
  std::string http_type, http_body;

  std::atomic<uint64_t> client{0};  // in-daemon protocol client, once authenticated
  std::atomic<size_t> out_bytes{0};
  std::atomic<bool> authenticated{false};
  std::atomic<bool> gone{false};  // the socket is closed
  std::atomic<bool> dirty{false}; // on the server's wake list
  // Receive budget (rx_budget.h): bytes handed to the loop and not handled yet, and whether
  // the lws thread stopped reading the socket until they are.
  std::atomic<size_t> rx_waiting{0};
  std::atomic<bool> rx_paused{false};

  // ---- libwebsockets thread only ----
  struct lws* wsi = nullptr;
  std::string rx;                 // fragments of the message being received
  bool rx_discard = false;        // the current message is over the limit
  bool posted_before_auth = false;  // a complete message went to the loop before login
  bool counted = false;           // in the server's ConnectionLimits
  std::string sending;            // taken from `out`; written from sending_off on
  size_t sending_off = 0;
  bool headers_sent = false;
  bool stall_timer = false;       // the slow-client timer is armed
};

}  // namespace ccmux::ws
