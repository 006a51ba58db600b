// The fleet's one connection to NATS (libnats, the C client): connects with the configured
// servers, TLS and credentials, reconnects forever, and hands every message and connection
// event to `post` so the plugin handles them on the daemon's loop thread — at most
// max_queued_bytes of them waiting at a time (beyond, messages are dropped and counted: a
// burst from a peer cannot grow the daemon's memory; senders time out, gaps are resubscribed).
// Requests are multiplexed on one inbox subscription and time out on the loop (sweep()).
// Publishing never blocks the loop thread: messages go to a sender thread through a queue of at
// most max_outgoing_bytes (beyond, publish() answers false), and only that thread calls into
// libnats to write — a server that stops reading stalls the sender, never the daemon (writes
// have a deadline; libnats then reconnects and keeps up to reconnect_buffer bytes). A message
// over the server's max_payload is refused (false).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
  int write_deadline_ms = 500;
  int64_t max_queued_bytes = 32 << 20;    // incoming, waiting for the loop
  int64_t max_outgoing_bytes = 32 << 20;  // outgoing, waiting for the sender thread
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
  // The server's max_payload (what one message may carry; 1 MiB by default).
  size_t max_payload() const;
  uint64_t dropped() const;  // messages dropped because the loop had too many waiting
  // Handler runs on the loop thread. Returns false when libnats refused the subscription.
  bool subscribe(const std::string& subject, Handler handler);
  // Request/reply through the shared inbox; `done` runs on the loop thread exactly once: with
  // the reply, or ok=false ("timeout", "no responders", "not connected").
  void request(const std::string& subject, std::string_view data, std::chrono::milliseconds timeout, Reply done);
  // Blocking request, for start-up only (the loop waits): the reply, or nullopt on timeout, no
  // responders or no connection.
  std::optional<std::string> request_now(const std::string& subject, std::string_view data, int timeout_ms);
  // Loop thread: fails the requests whose time is up. Call it every few hundred ms.
  void sweep();
  size_t pending_requests() const { return pending_.size(); }

 private:
  struct Shared;  // what libnats' threads may touch: the post function behind a mutex
  struct Sub {
    std::shared_ptr<Shared> shared;  // what the delivery thread may touch
    Handler handler;
    __natsSubscription* sub = nullptr;
    std::atomic<bool> done{false};  // libnats will not call on_msg for it again
  };
  static void on_msg(__natsConnection*, __natsSubscription*, __natsMsg* msg, void* closure);
  void on_reply(const std::string& subject, std::string_view data);
  bool enqueue(std::string subject, std::string reply, std::string_view data);
  void send_loop();

  struct Outgoing {
    std::string subject, reply, data;
  };
  std::thread sender_;
  std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::deque<Outgoing> out_;
  int64_t out_bytes_ = 0;
  bool out_stop_ = false;
  std::chrono::steady_clock::time_point drain_until_{};

  LinkOptions opts_;
  std::shared_ptr<Shared> shared_;
  __natsConnection* nc_ = nullptr;
  std::vector<std::unique_ptr<Sub>> subs_;
  std::string inbox_prefix_;  // _INBOX.<scope>.<nuid>.
  std::string first_error_;   // why the first connect failed (for the log and start's error)
  uint64_t next_request_ = 0;
  struct Pending {
    Reply done;
    std::chrono::steady_clock::time_point deadline;
  };
  std::map<uint64_t, Pending> pending_;
};

}  // namespace ccmux::fleet
