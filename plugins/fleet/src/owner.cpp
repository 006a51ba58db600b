#include "owner.h"

#include <ccmux/json_bounds.hpp>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <sys/stat.h>

namespace ccmux::fleet {

namespace {
constexpr size_t kBatchBytes = 64 << 10;  // one NATS message of events (the server's max_payload is 1 MiB)
constexpr auto kLease = std::chrono::seconds(30);       // a requester that neither acks nor pings is gone
constexpr auto kCallerIdle = std::chrono::minutes(10);  // an idle caller's in-daemon client is closed
constexpr size_t kMaxCaller = 256;
// What one peer (and all of them) may hold open here: beyond, requests are refused `busy`.
constexpr size_t kCallersPerPeer = 64, kCallersTotal = 512;
constexpr size_t kSubsPerPeer = 256, kSubsTotal = 1024;
constexpr size_t kPartSlack = 1024;  // room for a part's header line under max_payload

// At most `max` bytes, never cutting a UTF-8 character in two (a broken one would make the
// caller's name, recorded in decided_by, unprintable as JSON).
std::string cut_utf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}
// A forwarded call addresses this machine's own ids: one prefix was stripped by the requester;
// another prefix or a `host` would route it on again (a chain of prefixes bouncing between
// machines, one hop each).
bool still_addressed(const json& params) {
  if (params.contains("host") && !params["host"].is_null()) return true;
  for (const char* key : {"session", "id"}) {
    auto it = params.find(key);
    if (it != params.end() && it->is_string() && it->get_ref<const std::string&>().find('/') != std::string::npos) return true;
  }
  return false;
}
bool sub_token(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}
std::string str(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

Owner::Owner(ccmux::Host& host, NatsLink& link, const FleetConfig& cfg, const LocalStatus& status)
    : host_(host), link_(link), cfg_(cfg), status_(status) {}

Owner::~Owner() {
  for (auto& [key, c] : callers_)
    if (c.client) host_.close_client(c.client);
  for (auto& [key, s] : subs_)
    if (s->client) host_.close_client(s->client);
  if (approvals_client_) host_.close_client(approvals_client_);
}

void Owner::start() {
  link_.subscribe(cfg_.subject(cfg_.machine, "rpc"),
                  [this](const std::string&, std::string_view data, const std::string& reply) { on_request(data, reply); });
  approvals_client_ = host_.open_client("fleet:approvals", [this](std::string_view m) { on_approvals_message(m); });
  host_.client_send(approvals_client_, R"({"type":"hello","protocol":1,"client":"fleet","watch_approvals":true})");
}

void Owner::answer(const std::string& reply, bool ok, const json& result_or_error) {
  if (reply.empty()) return;
  json out = envelope({{"ok", ok}});
  out[ok ? "result" : "error"] = result_or_error;
  std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace);
  if (link_.publish(reply, text)) return;
  // Refused: larger than the server's max_payload (or NATS is gone, when nothing arrives anyway).
  json too = envelope({{"ok", false},
                       {"error", {{"code", "too_large"},
                                  {"message", "the answer (" + std::to_string(text.size()) + " bytes) is larger than NATS carries (" +
                                                  std::to_string(link_.max_payload()) + "): ask for less (e.g. event.payload with a smaller length)"}}}});
  link_.publish(reply, too.dump());
}

void Owner::stop_serving() {
  serving_ = false;
  for (auto& [key, c] : callers_) host_.close_client(c.client);
  callers_.clear();
  for (auto& [key, sub] : subs_) host_.close_client(sub->client);
  subs_.clear();
}

void Owner::on_request(std::string_view data, const std::string& reply) {
  if (!serving_) return;
  std::string why;
  json req = ccmux::sdk::parse_json_bounded(data, &why);
  if (req.is_discarded() || !req.is_object())
    return answer(reply, false, {{"code", "bad_message"}, {"message", "a fleet request must be one JSON object: " + why}});
  std::string from = str(req, "from");
  if (!valid_machine_name(from))
    return answer(reply, false, {{"code", "bad_message"}, {"message", "a fleet request needs `from`, a machine name"}});
  if (auto problem = version_problem(req, cfg_.machine, from))
    return answer(reply, false, {{"code", "fleet_version"}, {"message", *problem}});
  std::string op = str(req, "op");
  if (reply.empty() && op != "ack" && op != "unsub") return;  // nobody to answer: not served
  try {
    if (op == "whoami")
      return answer(reply, true, {{"machine", cfg_.machine}, {"instance", status_.instance}, {"started_ms", status_.started_ms}});
    if (op == "call") return serve_call(req, from, reply);
    if (op == "sub") return serve_sub(req, from, reply);
    if (op == "ack") return on_ack(req, from);
    if (op == "unsub") return drop_sub(from + "/" + str(req, "sub"));
    if (op == "probe") return serve_probe(req, reply);
    if (op == "approvals") {
      json list = json::array();
      for (auto& [id, a] : pending_) list.push_back(a);
      return answer(reply, true, {{"rev", approvals_rev_}, {"pending", list}});
    }
  } catch (const std::exception& e) {
    return answer(reply, false, {{"code", "bad_params"}, {"message", e.what()}});
  }
  answer(reply, false, {{"code", "unknown_op"}, {"message", "unknown fleet op '" + op + "'"}});
}

// ---- call: one in-daemon client per remote caller ----

void Owner::serve_call(const json& req, const std::string& from, const std::string& reply) {
  std::string method = str(req, "method");
  if (method.empty()) return answer(reply, false, {{"code", "bad_message"}, {"message", "`method` must be a string"}});
  std::string caller = cut_utf8(str(req, "caller"), kMaxCaller);
  if (caller.empty()) caller = "unknown";
  json params = req.contains("params") && req["params"].is_object() ? req["params"] : json::object();
  if (still_addressed(params))
    return answer(reply, false, {{"code", "bad_params"},
                                 {"message", "a request from the fleet addresses " + cfg_.machine + "'s own ids (no host, one prefix)"}});
  std::string key = from + "/" + caller;
  if (!callers_.count(key)) {
    size_t mine = 0;
    for (auto& [k, _] : callers_) mine += k.rfind(from + "/", 0) == 0;
    if (mine >= kCallersPerPeer || callers_.size() >= kCallersTotal)
      return answer(reply, false, {{"code", "busy"}, {"message", cfg_.machine + " serves too many callers of " + from + " already"}});
  }
  Caller& c = callers_[key];
  if (!c.client) {
    std::weak_ptr<int> alive = alive_;
    c.client = host_.open_client("fleet:" + key, [this, alive, key](std::string_view m) {
      if (!alive.expired()) on_caller_message(key, m);
    });
    if (!c.client) {
      callers_.erase(key);
      return answer(reply, false, {{"code", "internal"}, {"message", "the daemon is stopping"}});
    }
    host_.client_send(c.client, R"({"type":"hello","protocol":1,"client":"fleet"})");
  }
  c.used = clock::now();
  int64_t id = ++c.next_id;
  c.replies[id] = reply;
  json msg = {{"type", "request"}, {"id", id}, {"method", method}, {"params", params}};
  host_.client_send(c.client, msg.dump(-1, ' ', false, json::error_handler_t::replace));
}

void Owner::on_caller_message(const std::string& key, std::string_view text) {
  auto it = callers_.find(key);
  if (it == callers_.end()) return;
  json m = ccmux::sdk::parse_json_bounded(text);
  if (!m.is_object() || m.value("type", "") != "response" || !m.contains("id") || !m["id"].is_number_integer()) return;
  auto r = it->second.replies.find(m["id"].get<int64_t>());
  if (r == it->second.replies.end()) return;
  std::string reply = r->second;
  it->second.replies.erase(r);
  if (m.contains("error")) return answer(reply, false, m["error"]);
  answer(reply, true, m.contains("result") ? m["result"] : json::object());
}

// ---- sub: a remote subscription with credit-based flow control ----

void Owner::serve_sub(const json& req, const std::string& from, const std::string& reply) {
  std::string sub = str(req, "sub"), session = str(req, "session");
  if (!sub_token(sub)) return answer(reply, false, {{"code", "bad_params"}, {"message", "`sub` must be 1-64 letters, digits, '-', '_'"}});
  if (session.empty() || session == "*")
    return answer(reply, false, {{"code", "bad_params"}, {"message", "`session` must name one session"}});
  uint64_t from_seq = req.contains("from_seq") && req["from_seq"].is_number_unsigned() ? req["from_seq"].get<uint64_t>() : 1;
  if (session.find('/') != std::string::npos)
    return answer(reply, false, {{"code", "bad_params"}, {"message", "`session` must be one of " + cfg_.machine + "'s own"}});
  std::string key = from + "/" + sub;
  drop_sub(key);  // the same requester subscribing again under the same id starts over
  size_t mine = 0;
  for (auto& [k, _] : subs_) mine += k.rfind(from + "/", 0) == 0;
  if (mine >= kSubsPerPeer || subs_.size() >= kSubsTotal)
    return answer(reply, false, {{"code", "busy"}, {"message", cfg_.machine + " serves too many subscriptions of " + from + " already"}});
  auto s = std::make_unique<Served>();
  s->key = key;
  s->from = from;
  s->sub = sub;
  s->session = session;
  s->reply = reply;
  s->subject = cfg_.subject(cfg_.machine, "ev." + from + "." + sub);
  // The requester's window, within this machine's: what it may buffer, what this one holds for it.
  int64_t asked = req.contains("window") && req["window"].is_number_integer() ? req["window"].get<int64_t>() : cfg_.window_bytes;
  s->window = std::clamp<int64_t>(asked, 64 << 10, cfg_.window_bytes);
  s->heard = clock::now();
  std::weak_ptr<int> alive = alive_;
  s->client = host_.open_client("fleet:" + from + "/subscription", [this, alive, key](std::string_view m) {
    if (!alive.expired()) on_sub_message(key, m);
  });
  if (!s->client) return answer(reply, false, {{"code", "internal"}, {"message", "the daemon is stopping"}});
  uint64_t client = s->client;
  subs_[key] = std::move(s);
  host_.client_send(client, R"({"type":"hello","protocol":1,"client":"fleet"})");
  json msg = {{"type", "request"}, {"id", 1}, {"method", "subscribe"}, {"params", {{"session", session}, {"from_seq", from_seq}}}};
  host_.client_send(client, msg.dump(-1, ' ', false, json::error_handler_t::replace));
}

void Owner::on_sub_message(const std::string& key, std::string_view m) {
  auto it = subs_.find(key);
  if (it == subs_.end()) return;
  Served& s = *it->second;
  if (m.substr(0, 15) == R"({"type":"event")") {
    if (m.size() + kPartSlack > link_.max_payload()) return send_parts(s, m);
    if (s.batch.size() + m.size() + kPartSlack > link_.max_payload()) flush(s);  // one NATS message each
    s.batch.append(m.data(), m.size());
    s.batch += '\n';
    s.batch_last = event_seq(m);
    if (s.batch.size() >= kBatchBytes) return flush(s);
    if (!s.flush_queued) {  // the rest of this burst joins the batch; sent at the end of the loop turn
      s.flush_queued = true;
      std::weak_ptr<int> alive = alive_;
      host_.post([this, alive, key] {
        if (alive.expired()) return;
        auto i = subs_.find(key);
        if (i == subs_.end()) return;
        i->second->flush_queued = false;
        flush(*i->second);
      });
    }
    return;
  }
  json msg = ccmux::sdk::parse_json_bounded(m);
  if (!msg.is_object() || msg.value("type", "") != "response" || s.answered) return;
  s.answered = true;
  if (msg.contains("error")) {
    answer(s.reply, false, msg["error"]);
    return drop_sub(key);
  }
  answer(s.reply, true, msg.value("result", json::object()));
  flush(s);
}

// An event larger than one NATS message goes as parts after the batch before it (same order):
// each a header line {"type":"part","seq","i","n"} and a piece of the line (event lines hold
// no raw newline). A lost part shows as a gap at the requester, like a lost batch.
void Owner::send_parts(Served& s, std::string_view line) {
  // Before the subscribe answer is out nothing is sent: the requester sees the gap and
  // subscribes again from this seq, which then comes after the answer.
  if (!s.answered) return;
  flush(s);
  uint64_t seq = event_seq(line);
  size_t piece = link_.max_payload() - kPartSlack;
  size_t n = (line.size() + piece - 1) / piece;
  for (size_t i = 0; i < n; ++i) {
    // "type" first (nlohmann would sort the keys): the requester tells lines apart by their start.
    std::string msg = R"({"type":"part","seq":)" + std::to_string(seq) + R"(,"i":)" + std::to_string(i) + R"(,"n":)" +
                      std::to_string(n) + "}\n";
    msg.append(line.substr(i * piece, piece));
    link_.publish(s.subject, msg);
    s.sent += static_cast<int64_t>(msg.size());
  }
  s.last_sent = seq;
  s.inflight.emplace_back(seq, s.sent);
  if (!s.paused && s.sent - s.acked >= s.window) {
    s.paused = true;
    host_.client_set_ready(s.client, false);
  }
}

void Owner::flush(Served& s) {
  if (!s.answered || s.batch.empty()) return;
  link_.publish(s.subject, s.batch);
  s.sent += static_cast<int64_t>(s.batch.size());
  s.last_sent = s.batch_last;
  s.inflight.emplace_back(s.batch_last, s.sent);
  s.batch.clear();
  if (!s.paused && s.sent - s.acked >= s.window) {
    s.paused = true;  // the store feeds it again once the requester has caught up
    host_.client_set_ready(s.client, false);
  }
}

void Owner::on_ack(const json& req, const std::string& from) {
  auto it = subs_.find(from + "/" + str(req, "sub"));
  if (it == subs_.end()) return;
  Served& s = *it->second;
  s.heard = clock::now();
  uint64_t seq = req.contains("seq") && req["seq"].is_number_unsigned() ? req["seq"].get<uint64_t>() : 0;
  while (!s.inflight.empty() && s.inflight.front().first <= seq) {
    s.acked = s.inflight.front().second;
    s.inflight.pop_front();
  }
  if (s.paused && s.sent - s.acked < s.window / 2) {
    s.paused = false;
    host_.client_set_ready(s.client, true);
  }
}

void Owner::drop_sub(const std::string& key) {
  auto it = subs_.find(key);
  if (it == subs_.end()) return;
  if (it->second->client) host_.close_client(it->second->client);
  subs_.erase(it);
}

void Owner::sweep() {
  auto now = clock::now();
  for (auto it = subs_.begin(); it != subs_.end();) {
    Served& s = *it->second;
    if (now - s.heard > kLease) {
      host_.close_client(s.client);
      it = subs_.erase(it);
      continue;
    }
    // A tick tells the requester how far this side has sent: a batch lost on the way (a NATS
    // server died) shows as a tick beyond what it got.
    if (s.answered) {
      link_.publish(s.subject, R"({"type":"tick","sent":)" + std::to_string(s.last_sent) + "}\n");
    }
    ++it;
  }
  for (auto it = callers_.begin(); it != callers_.end();) {
    if (it->second.replies.empty() && now - it->second.used > kCallerIdle) {
      host_.close_client(it->second.client);
      it = callers_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- probe: placement ----

void Owner::serve_probe(const json& req, const std::string& reply) {
  std::string cwd = str(req, "cwd");
  struct stat st {};
  bool exists = !cwd.empty() && stat(cwd.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  bool allowed = false;
  if (exists) {
    char real[PATH_MAX];
    std::string path = realpath(cwd.c_str(), real) ? real : cwd;
    for (auto& r : status_.roots) {
      if (!r.is_string()) continue;
      char rr[PATH_MAX];
      std::string root = realpath(r.get<std::string>().c_str(), rr) ? rr : r.get<std::string>();
      if (path == root || path.rfind(root + "/", 0) == 0) allowed = true;
    }
  }
  answer(reply, true,
         {{"exists", exists}, {"allowed", allowed}, {"live", status_.live}, {"max_live", status_.max_live}});
}

// ---- approvals of this machine ----

// A watching client hears of other machines' approvals too (the core mirrors them for its
// clients): "machine/a-…" ids are not this machine's to publish, or they would echo back.
void Owner::on_approvals_message(std::string_view text) {
  json m = ccmux::sdk::parse_json_bounded(text);
  if (!m.is_object()) return;
  std::string type = m.value("type", "");
  auto own = [](const json& a) {
    return a.is_object() && a.contains("id") && a["id"].is_string() &&
           a["id"].get_ref<const std::string&>().find('/') == std::string::npos;
  };
  if (type == "approvals" && m.contains("pending") && m["pending"].is_array()) {
    pending_.clear();
    for (auto& a : m["pending"])
      if (own(a)) pending_[a["id"].get<std::string>()] = a;
  } else if ((type == "approval_requested" || type == "approval_resolved") && m.contains("approval") &&
             own(m["approval"])) {
    std::string id = m["approval"]["id"].get<std::string>();
    if (type == "approval_requested") pending_[id] = m["approval"];
    else pending_.erase(id);
  } else {
    return;
  }
  ++approvals_rev_;
  publish_approvals();
}

void Owner::publish_approvals() {
  if (!serving_) return;
  json list = json::array();
  for (auto& [id, a] : pending_) list.push_back(a);
  json msg = envelope({{"machine", cfg_.machine}, {"started_ms", status_.started_ms}, {"rev", approvals_rev_}, {"pending", list}});
  link_.publish(cfg_.subject(cfg_.machine, "appr"), msg.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace ccmux::fleet
