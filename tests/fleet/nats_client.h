// A small RAII wrapper of the NATS C client (libnats) for tests: connect (URLs, user/password,
// TLS CA), publish, synchronous subscriptions read with a timeout, and what the server said
// asynchronously (permission violations) recorded for assertions.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ccmux::test {

struct NatsClientOptions {
  std::vector<std::string> urls;  // tried in this order (no randomizing), reconnects included
  std::string user, password;     // empty: no credentials
  std::string ca_file;            // non-empty: TLS, trusting this CA only
  bool secure = false;            // TLS with the system's CAs (when ca_file is empty)
  int timeout_ms = 2000;          // connect timeout per server
  int reconnect_wait_ms = 50;     // tests kill servers: reconnect fast
  std::string name = "ccmux-test";
};

// What a failed connect returned: the status and libnats' error text.
struct NatsConnectResult {
  natsStatus status = NATS_OK;
  std::string error;
};

class NatsSub {
 public:
  explicit NatsSub(natsSubscription* s) : s_(s) {}
  ~NatsSub() { natsSubscription_Destroy(s_); }
  NatsSub(const NatsSub&) = delete;
  NatsSub& operator=(const NatsSub&) = delete;
  // The next message's data, or nothing when none comes within timeout_ms.
  std::optional<std::string> next(int timeout_ms = 2000);
  natsSubscription* raw() { return s_; }

 private:
  natsSubscription* s_;
};

class NatsClient {
 public:
  // Connects or throws std::runtime_error (status text + libnats' last error).
  explicit NatsClient(const NatsClientOptions& o);
  ~NatsClient();
  NatsClient(const NatsClient&) = delete;
  NatsClient& operator=(const NatsClient&) = delete;
  // Tries to connect; on success the connection is closed again. For the refusal tests.
  static NatsConnectResult try_connect(const NatsClientOptions& o);

  natsStatus publish(const std::string& subject, const std::string& data);
  natsStatus flush(int timeout_ms = 2000);
  // Subscribes and flushes (the server has the subscription when this returns).
  std::unique_ptr<NatsSub> subscribe(const std::string& subject);
  std::string connected_url();
  int reconnects() const;
  natsConnection* raw() { return nc_; }

  // Waits until an asynchronous error whose text contains `needle` arrived; its status then.
  std::optional<natsStatus> wait_async_error(const std::string& needle, int timeout_ms = 3000);
  std::vector<std::string> async_errors() const;
  // Waits until the client reconnected at least n times in all.
  bool wait_reconnects(int n, int timeout_ms = 8000);

 private:
  static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err, void* self);
  static void on_reconnected(natsConnection* nc, void* self);
  natsConnection* nc_ = nullptr;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::pair<natsStatus, std::string>> errors_;
  int reconnects_ = 0;
};

}  // namespace ccmux::test
