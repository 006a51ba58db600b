// The fleet's one connection to NATS (libnats, the C client): connects with the configured
// servers, TLS and credentials, reconnects forever, and hands every message and connection
// event to `post` so the plugin handles them on the daemon's loop thread. Requests are
// multiplexed on one inbox subscription (one wildcard subscription for all replies) and time
// out on the loop (sweep()). Publishing is safe from the loop thread (libnats buffers; while
// reconnecting it keeps up to reconnect_buffer bytes).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

struct __natsConnection;
struct __natsSubscription;
struct __natsMsg;

namespace ccmux::fleet {

struct LinkOptions {
  std::vector<std::string> servers;  // nats://host:port or tls://…
  std::string name;                  // shown by the server (connz)
  std::string inbox_scope;           // replies come to _INBOX.<scope>.…: a machine may read only its own
  std::string user, password;        // from the credentials file
  std::string creds_file;            // a .creds file (JWT + NKey seed)
  std::string nkey_public, nkey_seed_file;
  std::string tls_ca, tls_cert, tls_key;
  bool tls = false;
  int reconnect_wait_ms = 250;
  int reconnect_buffer = 8 << 20;
};

class NatsLink {
 public:
  using Post = std::function<void(std::function<void()>)>;  // runs a task on the loop thread
  using Handler = std::function<void(const std::string& subject, std::string_view data, const std::string& reply)>;
  using Reply = std::function<void(bool ok, std::string_view data, const std::string& error)>;
  using Notice = std::function<void(const std::string& what)>;  // "connected …", "disconnected", "reconnected …", "closed", errors

  NatsLink(LinkOptions opts, Post post, Notice notice);
  ~NatsLink();  // closes the connection; no handler runs after it
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  // Connects (retrying in the background when no server answers yet). Throws on bad options
  // (unreadable certificate, credentials), with a message that never holds a secret.
  void start();
  bool connected() const;
  std::string connected_url() const;

  bool publish(const std::string& subject, std::string_view data);
  // Handler runs on the loop thread. Returns false when libnats refused the subscription.
  bool subscribe(const std::string& subject, Handler handler);
  // Request/reply through the shared inbox; `done` runs on the loop thread exactly once: with
  // the reply, or ok=false ("timeout", "no responders", "not connected").
  void request(const std::string& subject, std::string_view data, std::chrono::milliseconds timeout, Reply done);
  // Loop thread: fails the requests whose time is up. Call it every few hundred ms.
  void sweep();
  size_t pending_requests() const { return pending_.size(); }

 private:
  struct Shared;  // what libnats' threads may touch: the post function behind a mutex
  struct Sub {
    NatsLink* link;
    Handler handler;
    __natsSubscription* sub = nullptr;
  };
  static void on_msg(__natsConnection*, __natsSubscription*, __natsMsg* msg, void* closure);
  void on_reply(const std::string& subject, std::string_view data);

  LinkOptions opts_;
  std::shared_ptr<Shared> shared_;
  __natsConnection* nc_ = nullptr;
  std::vector<std::unique_ptr<Sub>> subs_;
  std::string inbox_prefix_;  // _INBOX.<nuid>.
  uint64_t next_request_ = 0;
  struct Pending {
    Reply done;
    std::chrono::steady_clock::time_point deadline;
  };
  std::map<uint64_t, Pending> pending_;
};

}  // namespace ccmux::fleet
