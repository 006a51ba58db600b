// The owner's side of the fleet: serves what other machines ask of this one on
// ccmux.<fleet>.<machine>.rpc (docs/fleet.md, "Requests") through in-daemon protocol
// clients, so every method (plugins' too) is served exactly as for a local transport:
//   call   one in-daemon client per remote caller (its name is the caller's identity);
//   sub    one in-daemon client per remote subscription, its events sent in batches to
//          ccmux.<fleet>.<machine>.ev.<from>.<sub> while less than the window is unacknowledged,
//          paused (client_set_ready) beyond it, so the store feeds it again when acks come;
//   probe  may a session start here in that folder, and how much room is there;
//   approvals  this machine's pending approvals (also published on .appr at each change);
//   whoami the name's holder answers (a daemon starting with a taken name hears it).
// What one peer may hold open here is capped (callers' clients, subscriptions): `busy` beyond.
// Loop thread only.
#pragma once

#include "fleet_config.h"
#include "nats_link.h"
#include "wire.h"

#include <ccmux/plugin.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>

namespace ccmux::fleet {

struct LocalStatus {  // from this daemon's `status`, refreshed with each heartbeat
  int64_t live = 0, max_live = 0, sessions = 0;
  int64_t started_ms = 0;  // when this plugin started: a restart resets approval revisions
  std::string instance;    // random, per start: two daemons that took one name tell each other apart
  json roots = json::array();  // project roots (projects.list)
};

class Owner {
 public:
  Owner(ccmux::Host& host, NatsLink& link, const FleetConfig& cfg, const LocalStatus& status);
  ~Owner();
  Owner(const Owner&) = delete;
  Owner& operator=(const Owner&) = delete;

  void start();  // subscribes to this machine's rpc subject, watches approvals
  void sweep();  // idle callers' clients, subscriptions whose requester went silent
  void stop_serving();  // another daemon holds this name: answer nothing more
  uint64_t approvals_rev() const { return approvals_rev_; }
  size_t pending_approvals() const { return pending_.size(); }
  size_t served_subscriptions() const { return subs_.size(); }

 private:
  using clock = std::chrono::steady_clock;
  struct Caller {
    uint64_t client = 0;
    std::map<int64_t, std::string> replies;  // request id -> NATS reply subject
    int64_t next_id = 0;
    clock::time_point used;
  };
  struct Served {
    std::string key, from, sub, session, subject, reply;
    uint64_t client = 0;
    std::string batch;
    uint64_t batch_last = 0;
    std::deque<std::pair<uint64_t, int64_t>> inflight;  // (last seq of a batch, bytes sent up to it)
    int64_t sent = 0, acked = 0;
    int64_t window = 0;  // bytes it may have unacknowledged
    uint64_t last_sent = 0;
    bool answered = false, paused = false, flush_queued = false;
    clock::time_point heard;
  };

  void on_request(std::string_view data, const std::string& reply);
  void answer(const std::string& reply, bool ok, const json& result_or_error);
  void serve_call(const json& req, const std::string& from, const std::string& reply);
  void on_caller_message(const std::string& key, std::string_view msg);
  void serve_sub(const json& req, const std::string& from, const std::string& reply);
  void on_sub_message(const std::string& key, std::string_view msg);
  void flush(Served& s);
  void send_parts(Served& s, std::string_view line);
  void on_ack(const json& req, const std::string& from);
  void drop_sub(const std::string& key);
  void serve_probe(const json& req, const std::string& reply);
  void on_approvals_message(std::string_view msg);
  void publish_approvals();

  ccmux::Host& host_;
  NatsLink& link_;
  const FleetConfig& cfg_;
  const LocalStatus& status_;
  std::map<std::string, Caller> callers_;  // "from/caller"
  std::map<std::string, std::unique_ptr<Served>> subs_;  // "from/sub"
  uint64_t approvals_client_ = 0;
  std::map<std::string, json> pending_;  // this machine's pending approvals by id
  uint64_t approvals_rev_ = 0;
  bool serving_ = true;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ccmux::fleet
