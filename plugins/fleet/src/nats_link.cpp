#include "nats_link.h"

#include <nats/nats.h>

#include <stdexcept>
#include <thread>

namespace ccmux::fleet {

// libnats calls back on its own threads, possibly while the link is being destroyed: they
// reach the plugin only through `post`, behind this mutex, which the destructor clears first.
struct NatsLink::Shared {
  std::atomic<bool> connected{false};
  std::atomic<bool> closed{false};  // libnats' last connection callback has run
  std::atomic<int64_t> max_payload{1 << 20};  // the server's, read at each (re)connect
  std::mutex mu;
  Post post;
  Notice notice;
  int64_t max_queued = 0;
  std::atomic<int64_t> queued{0};  // bytes of messages posted to the loop and not handled yet
  std::atomic<uint64_t> dropped{0};
  void run(std::function<void()> task) {
    std::lock_guard lock(mu);
    if (post) post(std::move(task));
  }
  void up(natsConnection* nc) {
    int64_t n = natsConnection_GetMaxPayload(nc);
    if (n > 0) max_payload = n;
    connected = true;
  }
  void tell(std::string what) {
    std::lock_guard lock(mu);
    if (post && notice) post([n = notice, w = std::move(what)] { n(w); });
  }
};

namespace {
void check(natsStatus s, const std::string& what) {
  if (s == NATS_OK) return;
  const char* last = nats_GetLastError(nullptr);
  throw std::runtime_error(what + ": " + natsStatus_GetText(s) + (last && *last ? std::string(" (") + last + ")" : ""));
}
std::string url_of(natsConnection* nc) {
  char buf[512] = {0};
  if (natsConnection_GetConnectedUrl(nc, buf, sizeof buf) != NATS_OK) return "";
  return buf;
}
}  // namespace

NatsLink::NatsLink(LinkOptions opts, Post post, Notice notice) : opts_(std::move(opts)), shared_(std::make_shared<Shared>()) {
  shared_->post = std::move(post);
  shared_->notice = std::move(notice);
  shared_->max_queued = opts_.max_queued_bytes;
}

NatsLink::~NatsLink() {
  {
    std::lock_guard lock(shared_->mu);  // from here on no callback reaches the plugin
    shared_->post = nullptr;
    shared_->notice = nullptr;
  }
  {
    std::lock_guard lock(out_mu_);
    out_stop_ = true;
    drain_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  }
  out_cv_.notify_all();
  if (sender_.joinable()) sender_.join();  // what is queued goes out (the owners hear our unsubs) for up to 1 s
  if (nc_) natsConnection_Close(nc_);
  // The connection callbacks run on libnats' own thread, after Close returns: Shared (their
  // closure) may go only once the closed callback, the last of them, has run.
  auto closing = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (nc_ && !shared_->closed && std::chrono::steady_clock::now() < closing)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Close does not wait for a handler already running on a delivery thread: the records go
  // once libnats says each subscription is done (bounded: a stuck handler cannot hang stop).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& s : subs_)
    while (s->sub && !s->done && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& s : subs_)
    if (s->sub) natsSubscription_Destroy(s->sub);
  if (nc_) natsConnection_Destroy(nc_);
  for (auto& [id, p] : pending_) p.done(false, {}, "the fleet plugin stopped");
}

void NatsLink::start() {
  natsOptions* o = nullptr;
  check(natsOptions_Create(&o), "nats options");
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(o, natsOptions_Destroy);
  std::vector<const char*> urls;
  for (auto& s : opts_.servers) urls.push_back(s.c_str());
  check(natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size())), "the NATS server list");
  if (!opts_.name.empty()) natsOptions_SetName(o, opts_.name.c_str());
  natsOptions_SetMaxReconnect(o, -1);  // forever: a machine outlives any NATS outage
  natsOptions_SetReconnectWait(o, opts_.reconnect_wait_ms);
  natsOptions_SetReconnectBufSize(o, opts_.reconnect_buffer);
  natsOptions_SetPingInterval(o, 2000);  // a dead server is noticed in seconds, not minutes
  natsOptions_SetMaxPingsOut(o, 2);
  natsOptions_SetTimeout(o, 2000);
  natsOptions_SetWriteDeadline(o, opts_.write_deadline_ms);  // never a loop stuck in a write
  if (!opts_.inbox_scope.empty())  // libnats' own requests (request_now) read replies there too
    natsOptions_SetCustomInboxPrefix(o, ("_INBOX." + opts_.inbox_scope).c_str());
  if (opts_.tls) check(natsOptions_SetSecure(o, true), "TLS");
  if (!opts_.tls_ca.empty()) check(natsOptions_LoadCATrustedCertificates(o, opts_.tls_ca.c_str()), "tls_ca " + opts_.tls_ca);
  if (!opts_.tls_cert.empty())
    check(natsOptions_LoadCertificatesChain(o, opts_.tls_cert.c_str(), opts_.tls_key.c_str()),
          "tls_cert/tls_key " + opts_.tls_cert);
  if (!opts_.user.empty()) check(natsOptions_SetUserInfo(o, opts_.user.c_str(), opts_.password.c_str()), "credentials");
  if (!opts_.creds_file.empty())
    check(natsOptions_SetUserCredentialsFromFiles(o, opts_.creds_file.c_str(), nullptr), "credentials file " + opts_.creds_file);
  if (!opts_.nkey_public.empty())
    check(natsOptions_SetNKeyFromSeed(o, opts_.nkey_public.c_str(), opts_.nkey_seed_file.c_str()), "nkey seed file " + opts_.nkey_seed_file);

  auto* sh = shared_.get();  // outlives the connection: the destructor closes it first
  natsOptions_SetDisconnectedCB(
      o,
      [](natsConnection*, void* c) {
        static_cast<Shared*>(c)->connected = false;
        static_cast<Shared*>(c)->tell("disconnected");
      },
      sh);
  natsOptions_SetReconnectedCB(
      o,
      [](natsConnection* nc, void* c) {
        static_cast<Shared*>(c)->up(nc);
        static_cast<Shared*>(c)->tell("reconnected to " + url_of(nc));
      },
      sh);
  natsOptions_SetClosedCB(
      o,
      [](natsConnection*, void* c) {
        auto* sh = static_cast<Shared*>(c);
        sh->connected = false;
        sh->tell("closed");
        sh->closed = true;  // the last thing done with `sh`: the link may free it now
      },
      sh);
  natsOptions_SetErrorHandler(
      o,
      [](natsConnection*, natsSubscription*, natsStatus err, void* c) {
        const char* last = nats_GetLastError(nullptr);
        static_cast<Shared*>(c)->tell(std::string("error: ") + natsStatus_GetText(err) + (last && *last ? std::string(" (") + last + ")" : ""));
      },
      sh);
  // One plain attempt first, so a refusal (wrong credentials, bad certificate) is logged with
  // its reason; then keep trying in the background: servers start in any order, and a fixed
  // account needs no restart of ccmuxd.
  natsStatus s = natsConnection_Connect(&nc_, o);
  if (s == NATS_OK) {
    shared_->up(nc_);
    shared_->tell("connected to " + url_of(nc_));
  } else {
    const char* last = nats_GetLastError(nullptr);
    first_error_ = std::string(natsStatus_GetText(s)) + (last && *last ? std::string(" (") + last + ")" : "");
    // Said now, on the loop thread that runs start(): a plugin that then fails to start drops
    // what it posted, and this is the line that tells why.
    if (shared_->notice) shared_->notice("error: cannot connect: " + first_error_ + "; trying again in the background");
    nc_ = nullptr;
    natsOptions_SetRetryOnFailedConnect(
        o, true,
        [](natsConnection* nc, void* c) {
          static_cast<Shared*>(c)->up(nc);
          static_cast<Shared*>(c)->tell("connected to " + url_of(nc));
        },
        sh);
    s = natsConnection_Connect(&nc_, o);
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
    check(s, "connecting to NATS");
  }

  sender_ = std::thread([this] { send_loop(); });

  natsInbox* inbox = nullptr;
  check(natsInbox_Create(&inbox), "inbox");
  // _INBOX.<nuid> made _INBOX.<scope>.<nuid>: the server lets a machine subscribe to replies
  // addressed to it only (docs/fleet.md, "Security").
  std::string unique = std::string(inbox).substr(std::string("_INBOX.").size());
  inbox_prefix_ = "_INBOX." + (opts_.inbox_scope.empty() ? "" : opts_.inbox_scope + ".") + unique + ".";
  natsInbox_Destroy(inbox);
  if (!subscribe(inbox_prefix_ + "*", [this](const std::string& subject, std::string_view data, const std::string&) {
        on_reply(subject, data);
      }))
    throw std::runtime_error("cannot subscribe to the reply inbox" +
                             (first_error_.empty() ? std::string() : " (NATS refused the connection: " + first_error_ + ")"));
}

bool NatsLink::connected() const { return nc_ && shared_->connected; }
std::string NatsLink::connected_url() const { return nc_ ? url_of(nc_) : ""; }

bool NatsLink::publish(const std::string& subject, std::string_view data) { return enqueue(subject, "", data); }

bool NatsLink::enqueue(std::string subject, std::string reply, std::string_view data) {
  if (!nc_ || data.size() > max_payload()) return false;
  {
    std::lock_guard lock(out_mu_);
    if (out_bytes_ + static_cast<int64_t>(data.size()) > opts_.max_outgoing_bytes) return false;  // NATS is not taking them
    out_bytes_ += static_cast<int64_t>(data.size());
    out_.push_back(Outgoing{std::move(subject), std::move(reply), std::string(data)});
  }
  out_cv_.notify_one();
  return true;
}

// The only thread that writes to libnats (after start): a write that waits for the server
// waits here, not on the daemon's loop.
void NatsLink::send_loop() {
  for (;;) {
    Outgoing m;
    {
      std::unique_lock lock(out_mu_);
      out_cv_.wait(lock, [&] { return out_stop_ || !out_.empty(); });
      if (out_.empty()) return;  // stopping, nothing left
      m = std::move(out_.front());
      out_.pop_front();
      out_bytes_ -= static_cast<int64_t>(m.data.size());
      // Stopping: what is left goes out while connected, for a bounded time, then is dropped.
      if (out_stop_ && (!shared_->connected || std::chrono::steady_clock::now() > drain_until_)) continue;
    }
    if (m.reply.empty()) natsConnection_Publish(nc_, m.subject.c_str(), m.data.data(), static_cast<int>(m.data.size()));
    else natsConnection_PublishRequest(nc_, m.subject.c_str(), m.reply.c_str(), m.data.data(), static_cast<int>(m.data.size()));
  }
}

std::optional<std::string> NatsLink::request_now(const std::string& subject, std::string_view data, int timeout_ms) {
  if (!connected()) return std::nullopt;
  natsMsg* reply = nullptr;
  if (natsConnection_Request(&reply, nc_, subject.c_str(), data.data(), static_cast<int>(data.size()), timeout_ms) != NATS_OK)
    return std::nullopt;
  std::optional<std::string> out;
  if (!natsMsg_IsNoResponders(reply)) out = std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  natsMsg_Destroy(reply);
  return out;
}

size_t NatsLink::max_payload() const { return static_cast<size_t>(shared_->max_payload.load()); }

uint64_t NatsLink::dropped() const { return shared_->dropped; }

void NatsLink::on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* sub = static_cast<Sub*>(closure);
  auto shared = sub->shared;
  int64_t size = natsMsg_GetDataLength(msg);
  if (shared->queued.load() + size > shared->max_queued) {  // the loop is behind: drop, count
    natsMsg_Destroy(msg);
    ++shared->dropped;
    return;
  }
  shared->queued += size;
  std::string subject = natsMsg_GetSubject(msg);
  // A 503 "no responders" status for a request becomes an empty reply with a marker.
  std::string data = natsMsg_IsNoResponders(msg) ? std::string("\x01no responders")
                                                 : std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  std::string reply = natsMsg_GetReply(msg) ? natsMsg_GetReply(msg) : "";
  natsMsg_Destroy(msg);
  Handler* handler = &sub->handler;  // lives until the link is destroyed, which drops queued tasks first
  shared->run([handler, shared, size, subject = std::move(subject), data = std::move(data), reply = std::move(reply)] {
    shared->queued -= size;
    (*handler)(subject, data, reply);
  });
}

bool NatsLink::subscribe(const std::string& subject, Handler handler) {
  if (!nc_) return false;
  auto rec = std::make_unique<Sub>();
  rec->shared = shared_;
  rec->handler = std::move(handler);
  if (natsConnection_Subscribe(&rec->sub, nc_, subject.c_str(), &NatsLink::on_msg, rec.get()) != NATS_OK) return false;
  natsSubscription_SetOnCompleteCB(rec->sub, [](void* c) { static_cast<Sub*>(c)->done = true; }, rec.get());
  // Events arrive in bursts (a 100k-event backfill): let libnats hold them rather than drop.
  natsSubscription_SetPendingLimits(rec->sub, 1 << 20, 256 << 20);
  subs_.push_back(std::move(rec));
  return true;
}

void NatsLink::request(const std::string& subject, std::string_view data, std::chrono::milliseconds timeout, Reply done) {
  if (!nc_) return done(false, {}, "not connected");
  uint64_t id = ++next_request_;
  std::string reply = inbox_prefix_ + std::to_string(id);
  if (!enqueue(subject, reply, data))
    return done(false, {}, data.size() > max_payload() ? "the request is larger than NATS carries" : "NATS is not taking messages");
  pending_[id] = Pending{std::move(done), std::chrono::steady_clock::now() + timeout};
}

void NatsLink::on_reply(const std::string& subject, std::string_view data) {
  uint64_t id = 0;
  try {
    id = std::stoull(subject.substr(inbox_prefix_.size()));
  } catch (...) {
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // late: already timed out
  Reply done = std::move(it->second.done);
  pending_.erase(it);
  if (data == "\x01no responders") return done(false, {}, "no responders");
  done(true, data, "");
}

void NatsLink::sweep() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    Reply done = std::move(it->second.done);
    it = pending_.erase(it);
    done(false, {}, "timeout");
  }
}

}  // namespace ccmux::fleet
