// The requester's side of the fleet: what this machine's clients ask of other machines.
//   route()        requests the core hands over (SDK 1.6 router: "host" parameter, "B/s-…"
//                  sessions, "B/a-…" approvals) go to the owner's rpc subject as `call`s, or
//                  become remote subscriptions; `host: "auto"` places a new session first;
//   subscriptions  events of B's session pushed to the local client (client_push), seq by seq:
//                  duplicates dropped, a gap or a silent owner answered by subscribing again
//                  from the next seq, a full client answered by the same once it drained;
//   heartbeats     the machine table (up / down / incompatible), and B's pending approvals
//                  mirrored into this daemon (set_remote_approvals), repaired by revision;
//   fleet.sessions every machine's sessions, the down ones' from their last answer.
// Loop thread only.
#pragma once

#include "fleet_config.h"
#include "machines.h"
#include "nats_link.h"
#include "wire.h"

#include <ccmux/plugin.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ccmux::fleet {

class Remote {
 public:
  // `instance`: this start's random id; `conflict` hears a heartbeat of another daemon that
  // uses this machine's name.
  Remote(ccmux::Host& host, NatsLink& link, const FleetConfig& cfg, MachineTable& machines, std::string instance,
         std::function<void(const json& heartbeat)> conflict);
  ~Remote();
  Remote(const Remote&) = delete;
  Remote& operator=(const Remote&) = delete;

  void start();  // heartbeats, approvals, and the event subjects addressed to this machine
  void route(const ccmux::Host::Route& r);
  void client_note(uint64_t client, bool gone);
  void fleet_sessions(const ccmux::Host::AsyncCall& call);
  void sweep();  // machines down, acks, silent owners
  size_t subscriptions() const { return subs_.size(); }

 private:
  using clock = std::chrono::steady_clock;
  struct Sub {
    uint64_t id = 0;      // the subscription id the local client sees
    uint64_t client = 0;  // the local client
    std::string machine, session, shown;  // B, s-1, B/s-1
    uint64_t next = 1;    // the next seq the client should get
    uint64_t gen = 0;
    std::string token;    // id-gen: the owner's name for this (re)subscription
    uint64_t call = 0;    // the subscribe call still to answer (0: answered)
    bool live = false;    // the owner answered the current token
    bool paused = false;  // the client is full: subscribe again when it drains
    bool stale = false;   // its machine is down: subscribe again when it is back
    uint64_t owner_sent = 0;
    uint64_t unacked = 0, acked = 0;
    clock::time_point heard, acked_at;
    clock::time_point behind_since{};  // a tick said the owner sent beyond what came (unset: epoch)
    std::vector<std::string> early;  // events before the subscribe answer went out
    std::string part;                // an event arriving in pieces (larger than one NATS message)
    uint64_t part_seq = 0, part_got = 0;
  };

  void on_heartbeat(const std::string& subject, std::string_view data);
  void on_approvals(const std::string& subject, std::string_view data);
  void machine_up(const std::string& name);
  void machine_down(const std::string& name);
  void fetch_approvals(const std::string& name);
  void mirror_approvals(const std::string& name, const json& pending, uint64_t rev, int64_t started);

  // Checks that `target` is a machine that is up; answers `call` with why not otherwise.
  bool reachable(uint64_t call, const std::string& target);
  void forward(uint64_t call, const std::string& target, const std::string& method, const json& params,
               const std::string& caller);
  void place(const ccmux::Host::Route& r, const json& params);

  void subscribe(const ccmux::Host::Route& r, const json& params);
  void unsubscribe(const ccmux::Host::Route& r, const json& params);
  void resubscribe(Sub& s);
  void on_events(const std::string& subject, std::string_view data);
  bool deliver(Sub& s, std::string_view line);  // false: stop this batch
  void ack(Sub& s);
  void unsub(const std::string& machine, const std::string& token);  // ends a token on its owner
  void end(uint64_t id, bool tell_owner);
  std::string rpc(const std::string& machine) const { return cfg_.subject(machine, "rpc"); }
  std::chrono::milliseconds timeout_for(const std::string& method) const;

  ccmux::Host& host_;
  NatsLink& link_;
  const FleetConfig& cfg_;
  MachineTable& machines_;
  std::map<uint64_t, Sub> subs_;
  std::map<std::string, uint64_t> by_token_;
  uint64_t next_sub_ = 0;
  std::string nonce_;  // this start's instance: in every subscription token
  std::function<void(const json&)> conflict_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace ccmux::fleet
