#include "remote.h"

#include <ccmux/json_bounds.hpp>

#include <algorithm>

namespace ccmux::fleet {

namespace {
// Subscription ids this side makes up, far above the core's own (which count from 1) and
// below 2^53 so JavaScript clients read them exactly.
constexpr uint64_t kSubBase = 1'000'000'000'000'000ULL;
constexpr uint64_t kAckEvery = 256;                  // events delivered between acks
constexpr auto kAckIdle = std::chrono::seconds(2);   // and at least this often (the owner's lease)
constexpr auto kSilence = std::chrono::seconds(3);   // the owner sent more than arrived, for this long
constexpr auto kProbeTimeout = std::chrono::seconds(3);
constexpr auto kListTimeout = std::chrono::seconds(5);

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string err(const std::string& code, const std::string& message) {
  return dump({{"code", code}, {"message", message}});
}
std::string last_token(const std::string& subject) {
  auto dot = subject.rfind('.');
  return dot == std::string::npos ? subject : subject.substr(dot + 1);
}
// "ccmux.F.NAME.hb" -> NAME
std::string machine_of(const std::string& subject) {
  auto end = subject.rfind('.');
  auto start = subject.rfind('.', end - 1);
  return end == std::string::npos || start == std::string::npos ? "" : subject.substr(start + 1, end - start - 1);
}
}  // namespace

Remote::Remote(ccmux::Host& host, NatsLink& link, const FleetConfig& cfg, MachineTable& machines, std::string instance,
               std::function<void(const json&)> conflict)
    : host_(host), link_(link), cfg_(cfg), machines_(machines), nonce_(std::move(instance)), conflict_(std::move(conflict)) {}

Remote::~Remote() {
  for (auto& [id, s] : subs_)
    if (!s.token.empty()) unsub(s.machine, s.token);
}

void Remote::start() {
  link_.subscribe(cfg_.subject("*", "hb"),
                  [this](const std::string& subj, std::string_view data, const std::string&) { on_heartbeat(subj, data); });
  link_.subscribe(cfg_.subject("*", "appr"),
                  [this](const std::string& subj, std::string_view data, const std::string&) { on_approvals(subj, data); });
  link_.subscribe(cfg_.subject("*", "ev." + cfg_.machine + ".*"),
                  [this](const std::string& subj, std::string_view data, const std::string&) { on_events(subj, data); });
}

// ---- machines and their approvals ----

void Remote::on_heartbeat(const std::string& subject, std::string_view data) {
  json hb = ccmux::sdk::parse_json_bounded(data);
  std::string name = get_str(hb, "machine");
  if (!hb.is_object() || name != machine_of(subject) || !valid_machine_name(name)) return;  // forged or broken
  if (name == cfg_.machine && get_str(hb, "instance") != nonce_) return conflict_(hb);  // not ours: same name
  std::string problem = version_problem(hb, cfg_.machine, name).value_or("");
  bool again = machines_.heard(name, hb, problem);
  if (name == cfg_.machine || !problem.empty()) return;
  if (again) return machine_up(name);
  Machine* m = machines_.find(name);
  if (m && (get_uint(hb, "approvals_rev") != m->approvals_rev || m->started_ms != m->approvals_started_ms))
    fetch_approvals(name);
}

void Remote::machine_up(const std::string& name) {
  host_.info("machine " + name + " is up");
  fetch_approvals(name);
  for (auto& [id, s] : subs_)
    if (s.machine == name && !s.paused && s.call == 0) resubscribe(s);  // it may have restarted
}

void Remote::machine_down(const std::string& name) {
  Machine* m = machines_.find(name);
  host_.warn("machine " + name + " is down" + (m ? " (" + m->reason + ")" : ""));
  host_.set_remote_approvals(name, "[]");  // cannot be answered there now; back with it
  if (m) m->approvals_rev = UINT64_MAX;
  for (auto& [id, s] : subs_)
    if (s.machine == name) {
      s.stale = true;
      s.live = false;
    }
  if (m)
    for (auto& s : m->sessions)
      if (s.is_object()) s["reachable"] = false;
}

void Remote::fetch_approvals(const std::string& name) {
  std::weak_ptr<int> alive = alive_;
  link_.request(rpc(name), dump(envelope({{"op", "approvals"}, {"from", cfg_.machine}})), kProbeTimeout,
                [this, alive, name](bool ok, std::string_view data, const std::string&) {
                  if (alive.expired() || !ok) return;  // asked again at the next heartbeat
                  OwnerReply r = read_reply(data, cfg_.machine, name);
                  if (!r.ok) return;
                  const json& res = r.result;
                  Machine* m = machines_.find(name);
                  if (!m || !res.contains("pending") || !res["pending"].is_array()) return;
                  mirror_approvals(name, res["pending"], get_uint(res, "rev"), m->started_ms);
                });
}

void Remote::on_approvals(const std::string& subject, std::string_view data) {
  std::string name = machine_of(subject);
  if (name == cfg_.machine) return;
  json msg = ccmux::sdk::parse_json_bounded(data);
  Machine* m = machines_.find(name);
  if (!m || m->state != "up" || !msg.is_object() || get_str(msg, "machine") != name) return;
  if (version_problem(msg, cfg_.machine, name) || !msg.contains("pending") || !msg["pending"].is_array()) return;
  mirror_approvals(name, msg["pending"], get_uint(msg, "rev"), get_int(msg, "started_ms"));
}

void Remote::mirror_approvals(const std::string& name, const json& pending, uint64_t rev, int64_t started) {
  Machine* m = machines_.find(name);
  if (!m) return;
  json list = json::array();
  for (auto a : pending) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_string()) continue;
    add_machine(a, name);
    a["host"] = name;
    list.push_back(std::move(a));
  }
  host_.set_remote_approvals(name, dump(list));
  m->approvals_rev = rev;
  m->approvals_started_ms = started;
}

// ---- requests ----

std::chrono::milliseconds Remote::timeout_for(const std::string& method) const {
  using std::chrono::milliseconds;
  if (method == "session.new" || method == "session.resume") return std::max(milliseconds(180000), milliseconds(cfg_.request_timeout_ms));
  if (method == "session.interrupt" || method == "session.mode") return std::max(milliseconds(60000), milliseconds(cfg_.request_timeout_ms));
  return milliseconds(cfg_.request_timeout_ms);
}

bool Remote::reachable(uint64_t call, const std::string& target) {
  Machine* m = machines_.find(target);
  if (!m) {
    std::string known;
    for (auto& [n, _] : machines_.all()) known += (known.empty() ? "" : ", ") + n;
    host_.respond(call, false, err("unknown_host", "no machine named " + target + " in fleet " + cfg_.fleet +
                                                       (known.empty() ? "" : " (known: " + known + ")")));
    return false;
  }
  if (m->state != "up") {
    host_.respond(call, false, err(m->state == "down" ? "machine_down" : "fleet_version",
                                   "machine " + target + " is " + m->state + ": " + m->reason));
    return false;
  }
  return true;
}

void Remote::route(const ccmux::Host::Route& r) {
  json params = ccmux::sdk::parse_json_bounded(r.params_json);
  if (!params.is_object()) params = json::object();
  if (r.target == "auto") {
    if (r.method != "session.new")
      return (void)host_.respond(r.call, false, err("bad_params", "host \"auto\" is for session.new only"));
    return place(r, params);
  }
  for (const char* key : {"session", "id"}) {
    std::string v = get_str(params, key);
    if (v.find('/') != std::string::npos && strip_machine(v).find('/') != std::string::npos)
      return (void)host_.respond(r.call, false, err("bad_params", std::string("parameter '") + key +
                                                                   "' holds more than one machine prefix"));
  }
  if (r.method == "unsubscribe") return unsubscribe(r, params);  // local bookkeeping: works while it is down
  if (!reachable(r.call, r.target)) return;
  if (r.method == "subscribe") return subscribe(r, params);
  forward(r.call, r.target, r.method, params, r.caller);
}

void Remote::forward(uint64_t call, const std::string& target, const std::string& method, const json& params,
                     const std::string& caller) {
  json req = envelope({{"op", "call"}, {"from", cfg_.machine}, {"method", method}, {"params", params_for_owner(params)},
                       {"caller", caller}});
  std::weak_ptr<int> alive = alive_;
  link_.request(rpc(target), dump(req), timeout_for(method),
                [this, alive, call, target, method](bool ok, std::string_view data, const std::string& why) {
                  if (alive.expired()) return;
                  if (!ok) {
                    std::string code = why == "timeout" ? "machine_timeout" : "machine_down";
                    std::string text = why == "timeout" ? "machine " + target + " did not answer " + method + " in time"
                                                        : "machine " + target + " is not reachable (" + why + ")";
                    return (void)host_.respond(call, false, err(code, text));
                  }
                  OwnerReply r = read_reply(data, cfg_.machine, target);
                  if (!r.ok) return (void)host_.respond(call, false, err(r.code, r.message));
                  json& result = r.result;
                  add_machine(result, target);
                  if (result.is_object() && result.contains("id") && method.rfind("session.", 0) == 0) result["host"] = target;
                  host_.respond(call, true, dump(result));
                });
}

void Remote::place(const ccmux::Host::Route& r, const json& params) {
  std::string cwd = get_str(params, "cwd");
  if (cwd.empty()) return (void)host_.respond(r.call, false, err("bad_params", "parameter 'cwd' must be a string"));
  std::vector<std::string> up = machines_.up();
  if (up.empty()) return (void)host_.respond(r.call, false, err("no_machine", "no machine of fleet " + cfg_.fleet + " is up"));
  struct Round {
    size_t waiting;
    std::vector<std::string> asked;
    std::vector<std::pair<std::string, json>> answers;
  };
  auto round = std::make_shared<Round>(Round{up.size(), up, {}});
  std::weak_ptr<int> alive = alive_;
  Host::Route route = r;
  for (auto& name : up) {
    link_.request(rpc(name), dump(envelope({{"op", "probe"}, {"from", cfg_.machine}, {"cwd", cwd}})), kProbeTimeout,
                  [this, alive, round, name, route, params, cwd](bool ok, std::string_view data, const std::string&) {
                    if (alive.expired()) return;
                    OwnerReply r = ok ? read_reply(data, cfg_.machine, name) : OwnerReply{};
                    if (r.ok && r.result.is_object()) round->answers.emplace_back(name, std::move(r.result));
                    if (--round->waiting) return;
                    // Everyone answered (or timed out): the most free slots, then the most memory.
                    std::string best, full, asked, silent;
                    int64_t best_free = 0, best_mem = -1;
                    auto add = [](std::string& list, const std::string& name) { list += (list.empty() ? "" : ", ") + name; };
                    for (auto& n : round->asked) {
                      bool answered = false;
                      for (auto& [m, _] : round->answers) answered = answered || m == n;
                      add(answered ? asked : silent, n);
                    }
                    if (!silent.empty()) asked += (asked.empty() ? "" : "; ") + silent + " did not answer";
                    for (auto& [n, a] : round->answers) {
                      if (!get_bool(a, "exists") || !get_bool(a, "allowed")) continue;
                      int64_t live = get_int(a, "live"), max = get_int(a, "max_live"), free = max - live;
                      Machine* m = machines_.find(n);
                      int64_t mem = m ? get_int(m->heartbeat, "mem_available") : 0;
                      if (free <= 0) {
                        add(full, n + ": " + std::to_string(live) + "/" + std::to_string(max) + " live");
                        continue;
                      }
                      if (free > best_free || (free == best_free && mem > best_mem)) best = n, best_free = free, best_mem = mem;
                    }
                    if (best.empty()) {
                      std::string why = !full.empty() ? "every machine that has " + cwd + " is full (" + full + ")"
                                                      : "no machine has the folder " + cwd + " under a project root (asked: " + asked + ")";
                      return (void)host_.respond(route.call, false, err("no_machine", why));
                    }
                    host_.info("session.new placed on " + best + " (" + std::to_string(best_free) + " free slots)");
                    forward(route.call, best, "session.new", params, route.caller);
                  });
  }
}

void Remote::fleet_sessions(const ccmux::Host::AsyncCall& call) {
  struct Round {
    size_t waiting;
  };
  std::vector<std::string> up = machines_.up();
  auto finish = [this](uint64_t id) {
    json sessions = json::array(), machines = json::array();
    for (auto& [name, m] : machines_.all()) {
      machines.push_back(machines_.describe(m));
      for (auto& s : m.sessions) sessions.push_back(s);
    }
    host_.respond(id, true, dump({{"sessions", sessions}, {"machines", machines}}));
  };
  if (up.empty()) return finish(call.id);
  auto round = std::make_shared<Round>(Round{up.size()});
  std::weak_ptr<int> alive = alive_;
  for (auto& name : up) {
    json req = envelope({{"op", "call"}, {"from", cfg_.machine}, {"method", "session.list"}, {"params", json::object()},
                         {"caller", call.caller}});
    link_.request(rpc(name), dump(req), kListTimeout,
                  [this, alive, round, name, id = call.id, finish](bool ok, std::string_view data, const std::string&) {
                    if (alive.expired()) return;
                    OwnerReply r = ok ? read_reply(data, cfg_.machine, name) : OwnerReply{};
                    Machine* m = machines_.find(name);
                    if (m && r.ok && r.result.contains("sessions") && r.result["sessions"].is_array()) {
                      json list = std::move(r.result["sessions"]);
                      add_machine(list, name);
                      for (auto& s : list)
                        if (s.is_object()) s["host"] = name, s["reachable"] = true;
                      m->sessions = std::move(list);
                      m->sessions_known = true;
                    } else if (m) {
                      for (auto& s : m->sessions)
                        if (s.is_object()) s["reachable"] = false;
                    }
                    if (--round->waiting == 0) finish(id);
                  });
  }
}

// ---- subscriptions ----

void Remote::subscribe(const ccmux::Host::Route& r, const json& params) {
  std::string shown = get_str(params, "session");
  if (shown.find('/') == std::string::npos || shown.substr(shown.find('/') + 1).empty())
    return (void)host_.respond(r.call, false, err("bad_params", "subscribe across machines needs a session MACHINE/s-…"));
  uint64_t from = 1;
  if (params.contains("from_seq") && !params["from_seq"].is_null()) {
    if (!params["from_seq"].is_number_unsigned())
      return (void)host_.respond(r.call, false, err("bad_params", "parameter 'from_seq' must be an integer ≥ 0"));
    from = std::max<uint64_t>(1, params["from_seq"].get<uint64_t>());
  }
  uint64_t id = kSubBase + ++next_sub_;
  Sub& s = subs_[id];
  s.id = id;
  s.client = r.client;
  s.machine = r.target;
  s.session = strip_machine(shown);
  s.shown = r.target + "/" + s.session;
  s.next = from;
  s.call = r.call;
  resubscribe(s);
}

void Remote::resubscribe(Sub& s) {
  // The old token ends on the owner even if its answer never came (else it streams until its lease).
  if (!s.token.empty()) unsub(s.machine, s.token);
  by_token_.erase(s.token);
  // The instance in the token: a restarted requester's new subscriptions never take the events
  // still on their way to its old ones.
  s.token = nonce_ + "-" + std::to_string(s.id - kSubBase) + "-" + std::to_string(++s.gen);
  by_token_[s.token] = s.id;
  s.live = false;
  s.stale = false;
  s.owner_sent = 0;
  s.behind_since = {};
  s.heard = s.acked_at = clock::now();
  s.acked = s.next - 1;
  s.unacked = 0;
  json req = envelope({{"op", "sub"}, {"from", cfg_.machine}, {"sub", s.token}, {"session", s.session}, {"from_seq", s.next},
                       {"window", cfg_.window_bytes}});
  std::weak_ptr<int> alive = alive_;
  uint64_t id = s.id;
  std::string token = s.token;
  link_.request(rpc(s.machine), dump(req), std::chrono::milliseconds(cfg_.request_timeout_ms),
                [this, alive, id, token](bool ok, std::string_view data, const std::string& why) {
                  if (alive.expired()) return;
                  auto it = subs_.find(id);
                  if (it == subs_.end() || it->second.token != token) return;  // ended, or subscribed again since
                  Sub& s = it->second;
                  OwnerReply r = ok ? read_reply(data, cfg_.machine, s.machine) : OwnerReply{};
                  if (!r.ok || !r.result.is_object()) {
                    if (s.call) {  // the first subscribe: the client hears why
                      host_.respond(s.call, false,
                                    ok ? err(r.code.empty() ? "error" : r.code, r.message)
                                       : err("machine_down", "machine " + s.machine + " is not reachable (" + why + ")"));
                      return end(id, false);
                    }
                    s.stale = true;  // tried again by sweep()
                    return;
                  }
                  s.live = true;
                  s.heard = clock::now();
                  if (s.call) {
                    json res = std::move(r.result);
                    res["session"] = s.shown;
                    res["subscription"] = s.id;
                    host_.respond(s.call, true, dump(res));
                    s.call = 0;
                  }
                  // Events that came before the answer was given go out now, in order.
                  std::vector<std::string> early = std::move(s.early);
                  s.early.clear();
                  for (auto& line : early)
                    if (!deliver(s, line)) break;
                  if (subs_.count(id)) ack(subs_.at(id));
                });
}

void Remote::unsubscribe(const ccmux::Host::Route& r, const json& params) {
  std::string shown = get_str(params, "session");
  std::vector<uint64_t> ids;
  for (auto& [id, s] : subs_)
    if (s.client == r.client && s.shown == shown) ids.push_back(id);
  for (auto id : ids) end(id, true);
  host_.respond(r.call, true, "{}");
}

void Remote::on_events(const std::string& subject, std::string_view data) {
  auto t = by_token_.find(last_token(subject));
  if (t == by_token_.end()) return;
  uint64_t id = t->second;
  size_t start = 0;
  while (start < data.size()) {
    auto it = subs_.find(id);
    if (it == subs_.end()) return;
    Sub& s = it->second;
    size_t nl = data.find('\n', start);
    std::string_view line = data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? data.size() : nl + 1;
    if (line.empty()) continue;
    s.heard = clock::now();
    if (line.substr(0, 14) == R"({"type":"part")") {  // a piece of an event too big for one message
      json head = ccmux::sdk::parse_json_bounded(line);
      std::string_view piece = start < data.size() ? data.substr(start) : std::string_view();
      start = data.size();
      uint64_t seq = get_uint(head, "seq"), i = get_uint(head, "i"), n = get_uint(head, "n");
      if (i == 0) {
        s.part.clear();
        s.part_seq = seq;
        s.part_got = 0;
      }
      if (seq == 0 || seq != s.part_seq || i != s.part_got || n == 0 || i >= n) {  // a piece went missing: ask again
        s.part.clear();
        s.part_seq = s.part_got = 0;
        if (!s.call) resubscribe(s);
        return;
      }
      s.part.append(piece);
      if (++s.part_got < n) continue;
      std::string whole = std::move(s.part);
      s.part.clear();
      s.part_seq = s.part_got = 0;
      if (s.call) s.early.push_back(std::move(whole));
      else if (!deliver(s, whole)) return;
      continue;
    }
    if (line.substr(0, 14) == R"({"type":"tick")") {
      json tick = ccmux::sdk::parse_json_bounded(line);
      s.owner_sent = std::max(s.owner_sent, get_uint(tick, "sent"));
      // Ticks follow the batches they count on the same connection: one beyond what came
      // means a batch was lost (unless it is still being held for the subscribe answer).
      if (s.owner_sent >= s.next && !s.call && s.behind_since == clock::time_point{}) s.behind_since = clock::now();
      continue;
    }
    if (s.call) {  // not answered yet: keep for after the answer
      s.early.emplace_back(line);
      continue;
    }
    if (!deliver(s, line)) return;
  }
  auto it = subs_.find(id);
  if (it != subs_.end() && it->second.unacked >= kAckEvery) ack(it->second);
}

bool Remote::deliver(Sub& s, std::string_view line) {
  if (s.paused || s.stale) return false;
  uint64_t seq = event_seq(line);
  if (seq < s.next) return true;  // already delivered (a replay overlapping what came)
  if (seq > s.next) {             // a batch was lost on the way: ask again from the gap
    host_.warn("events " + std::to_string(s.next) + "-" + std::to_string(seq - 1) + " of " + s.shown +
               " were lost on the way; asking " + s.machine + " again");
    resubscribe(s);
    return false;
  }
  std::string out;
  if (!rewrite_event(line, s.id, s.shown, out, seq)) return true;
  // Approvals inside the stream carry the owner's ids: a client answers them with the prefix.
  if (line.find(R"("kind":"approval_)") != std::string_view::npos) {
    json ev = ccmux::sdk::parse_json_bounded(out);
    if (ev.is_object() && ev.contains("payload")) {
      add_machine(ev["payload"], s.machine);
      if (ev["payload"].is_object() && ev["payload"].contains("request") && ev["payload"]["request"].is_object())
        add_machine(ev["payload"]["request"], s.machine);
      out = dump(ev);
    }
  }
  int rc = host_.client_push(s.client, out);
  if (rc < 0) {
    end(s.id, true);
    return false;
  }
  s.next = seq + 1;
  ++s.unacked;
  s.behind_since = {};
  if (rc == 0) {  // the client is full: stop the owner; start again from s.next once it drained
    s.paused = true;
    unsub(s.machine, s.token);
    s.live = false;
    return false;
  }
  return true;
}

void Remote::unsub(const std::string& machine, const std::string& token) {
  link_.publish(rpc(machine), dump(envelope({{"op", "unsub"}, {"from", cfg_.machine}, {"sub", token}})));
}

void Remote::ack(Sub& s) {
  if (!s.live) return;
  link_.publish(rpc(s.machine), dump(envelope({{"op", "ack"}, {"from", cfg_.machine}, {"sub", s.token}, {"seq", s.next - 1}})));
  s.acked = s.next - 1;
  s.unacked = 0;
  s.acked_at = clock::now();
}

void Remote::end(uint64_t id, bool tell_owner) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  if (tell_owner && !it->second.token.empty())
    unsub(it->second.machine, it->second.token);
  by_token_.erase(it->second.token);
  subs_.erase(it);
}

void Remote::client_note(uint64_t client, bool gone) {
  std::vector<uint64_t> ids;
  for (auto& [id, s] : subs_)
    if (s.client == client) ids.push_back(id);
  for (auto id : ids) {
    if (gone) {
      end(id, true);
      continue;
    }
    Sub& s = subs_.at(id);
    if (!s.paused) continue;
    s.paused = false;
    Machine* m = machines_.find(s.machine);
    if (m && m->state == "up") resubscribe(s);
    else s.stale = true;
  }
}

void Remote::sweep() {
  for (auto& name : machines_.sweep(std::chrono::milliseconds(cfg_.down_after_ms)))
    if (name != cfg_.machine) machine_down(name);
  auto now = clock::now();
  std::vector<uint64_t> again;
  for (auto& [id, s] : subs_) {
    if (s.call || s.paused) continue;
    Machine* m = machines_.find(s.machine);
    bool up = m && m->state == "up";
    if (s.stale) {
      if (up) again.push_back(id);
      continue;
    }
    // The owner said it sent more than came, and nothing came for a while: lost on the way.
    if (s.live && s.behind_since != clock::time_point{} && s.owner_sent >= s.next && now - s.behind_since > kSilence)
      again.push_back(id);
    else if (s.live && now - s.heard > std::chrono::seconds(10) && up) again.push_back(id);  // not even ticks
    else if (now - s.acked_at >= kAckIdle) ack(s);
  }
  for (auto id : again) resubscribe(subs_.at(id));
}

}  // namespace ccmux::fleet
