#include "nats_link.h"

#include <nats/nats.h>

#include <stdexcept>

namespace ccmux::fleet {

// libnats calls back on its own threads, possibly while the link is being destroyed: they
// reach the plugin only through `post`, behind this mutex, which the destructor clears first.
struct NatsLink::Shared {
  std::mutex mu;
  Post post;
  Notice notice;
  void run(std::function<void()> task) {
    std::lock_guard lock(mu);
    if (post) post(std::move(task));
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
}

NatsLink::~NatsLink() {
  {
    std::lock_guard lock(shared_->mu);  // from here on no callback reaches the plugin
    shared_->post = nullptr;
    shared_->notice = nullptr;
  }
  if (nc_) natsConnection_Close(nc_);  // ends delivery before the records go
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
  natsOptions_SetDisconnectedCB(o, [](natsConnection*, void* c) { static_cast<Shared*>(c)->tell("disconnected"); }, sh);
  natsOptions_SetReconnectedCB(
      o, [](natsConnection* nc, void* c) { static_cast<Shared*>(c)->tell("reconnected to " + url_of(nc)); }, sh);
  natsOptions_SetClosedCB(o, [](natsConnection*, void* c) { static_cast<Shared*>(c)->tell("closed"); }, sh);
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
    shared_->tell("connected to " + url_of(nc_));
  } else {
    const char* last = nats_GetLastError(nullptr);
    shared_->tell(std::string("error: cannot connect: ") + natsStatus_GetText(s) +
                  (last && *last ? std::string(" (") + last + ")" : "") + "; trying again in the background");
    nc_ = nullptr;
    natsOptions_SetRetryOnFailedConnect(
        o, true, [](natsConnection* nc, void* c) { static_cast<Shared*>(c)->tell("connected to " + url_of(nc)); }, sh);
    s = natsConnection_Connect(&nc_, o);
    if (s == NATS_NOT_YET_CONNECTED) s = NATS_OK;
    check(s, "connecting to NATS");
  }

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
    throw std::runtime_error("cannot subscribe to the reply inbox");
}

bool NatsLink::connected() const { return nc_ && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }
std::string NatsLink::connected_url() const { return nc_ ? url_of(nc_) : ""; }

bool NatsLink::publish(const std::string& subject, std::string_view data) {
  if (!nc_) return false;
  return natsConnection_Publish(nc_, subject.c_str(), data.data(), static_cast<int>(data.size())) == NATS_OK;
}

void NatsLink::on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* sub = static_cast<Sub*>(closure);
  std::string subject = natsMsg_GetSubject(msg);
  // A 503 "no responders" status for a request becomes an empty reply with a marker.
  std::string data = natsMsg_IsNoResponders(msg) ? std::string("\x01no responders")
                                                 : std::string(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  std::string reply = natsMsg_GetReply(msg) ? natsMsg_GetReply(msg) : "";
  natsMsg_Destroy(msg);
  auto shared = sub->link->shared_;
  shared->run([sub, subject = std::move(subject), data = std::move(data), reply = std::move(reply)] {
    sub->handler(subject, data, reply);
  });
}

bool NatsLink::subscribe(const std::string& subject, Handler handler) {
  if (!nc_) return false;
  auto rec = std::make_unique<Sub>(Sub{this, std::move(handler)});
  if (natsConnection_Subscribe(&rec->sub, nc_, subject.c_str(), &NatsLink::on_msg, rec.get()) != NATS_OK) return false;
  // Events arrive in bursts (a 100k-event backfill): let libnats hold them rather than drop.
  natsSubscription_SetPendingLimits(rec->sub, 1 << 20, 256 << 20);
  subs_.push_back(std::move(rec));
  return true;
}

void NatsLink::request(const std::string& subject, std::string_view data, std::chrono::milliseconds timeout, Reply done) {
  if (!nc_) return done(false, {}, "not connected");
  uint64_t id = ++next_request_;
  std::string reply = inbox_prefix_ + std::to_string(id);
  if (natsConnection_PublishRequest(nc_, subject.c_str(), reply.c_str(), data.data(), static_cast<int>(data.size())) != NATS_OK)
    return done(false, {}, "not connected to NATS");
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
