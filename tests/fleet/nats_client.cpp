#include "nats_client.h"

#include <chrono>
#include <stdexcept>

namespace ccmux::test {

namespace {

struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};
using OptionsPtr = std::unique_ptr<natsOptions, OptionsDeleter>;

std::string last_error(natsStatus s) {
  natsStatus ignored;
  const char* text = nats_GetLastError(&ignored);
  return std::string(natsStatus_GetText(s)) + (text && *text ? std::string(": ") + text : "");
}

OptionsPtr make_options(const NatsClientOptions& o) {
  natsOptions* raw = nullptr;
  if (natsOptions_Create(&raw) != NATS_OK) throw std::runtime_error("natsOptions_Create");
  OptionsPtr opts(raw);
  std::vector<const char*> urls;
  for (auto& u : o.urls) urls.push_back(u.c_str());
  natsOptions_SetServers(raw, urls.data(), static_cast<int>(urls.size()));
  natsOptions_SetNoRandomize(raw, true);
  natsOptions_SetName(raw, o.name.c_str());
  natsOptions_SetTimeout(raw, o.timeout_ms);
  natsOptions_SetReconnectWait(raw, o.reconnect_wait_ms);
  natsOptions_SetReconnectJitter(raw, 0, 0);
  natsOptions_SetMaxReconnect(raw, 200);
  if (!o.user.empty()) natsOptions_SetUserInfo(raw, o.user.c_str(), o.password.c_str());
  if (!o.ca_file.empty() || o.secure) {
    natsOptions_SetSecure(raw, true);
    if (!o.ca_file.empty() && natsOptions_LoadCATrustedCertificates(raw, o.ca_file.c_str()) != NATS_OK)
      throw std::runtime_error("cannot load CA " + o.ca_file);
  }
  return opts;
}

}  // namespace

std::optional<std::string> NatsSub::next(int timeout_ms) {
  natsMsg* msg = nullptr;
  if (natsSubscription_NextMsg(&msg, s_, timeout_ms) != NATS_OK) return std::nullopt;
  std::string data(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  return data;
}

NatsClient::NatsClient(const NatsClientOptions& o) {
  OptionsPtr opts = make_options(o);
  natsOptions_SetErrorHandler(opts.get(), &NatsClient::on_error, this);
  natsOptions_SetReconnectedCB(opts.get(), &NatsClient::on_reconnected, this);
  natsStatus s = natsConnection_Connect(&nc_, opts.get());
  if (s != NATS_OK) throw std::runtime_error("NATS connect to " + o.urls.at(0) + " failed: " + last_error(s));
}

NatsClient::~NatsClient() {
  // Close first: no callback may run on a half-destroyed client.
  natsConnection_Close(nc_);
  natsConnection_Destroy(nc_);
}

NatsConnectResult NatsClient::try_connect(const NatsClientOptions& o) {
  OptionsPtr opts = make_options(o);
  natsConnection* nc = nullptr;
  NatsConnectResult r;
  r.status = natsConnection_Connect(&nc, opts.get());
  if (r.status != NATS_OK) r.error = last_error(r.status);
  natsConnection_Destroy(nc);
  return r;
}

natsStatus NatsClient::publish(const std::string& subject, const std::string& data) {
  return natsConnection_Publish(nc_, subject.c_str(), data.data(), static_cast<int>(data.size()));
}

natsStatus NatsClient::flush(int timeout_ms) { return natsConnection_FlushTimeout(nc_, timeout_ms); }

std::unique_ptr<NatsSub> NatsClient::subscribe(const std::string& subject) {
  natsSubscription* s = nullptr;
  natsStatus st = natsConnection_SubscribeSync(&s, nc_, subject.c_str());
  if (st != NATS_OK) throw std::runtime_error("subscribe " + subject + ": " + last_error(st));
  auto sub = std::make_unique<NatsSub>(s);
  flush();  // a refused subscription's error comes back asynchronously, after this
  return sub;
}

std::string NatsClient::connected_url() {
  char buf[256] = {0};
  natsConnection_GetConnectedUrl(nc_, buf, sizeof buf);
  return buf;
}

int NatsClient::reconnects() const {
  std::lock_guard lock(m_);
  return reconnects_;
}

std::vector<std::string> NatsClient::async_errors() const {
  std::lock_guard lock(m_);
  std::vector<std::string> texts;
  for (auto& [s, t] : errors_) texts.push_back(std::string(natsStatus_GetText(s)) + ": " + t);
  return texts;
}

std::optional<natsStatus> NatsClient::wait_async_error(const std::string& needle, int timeout_ms) {
  std::unique_lock lock(m_);
  std::optional<natsStatus> found;
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    for (auto& [s, t] : errors_)
      if (t.find(needle) != std::string::npos) return found = s, true;
    return false;
  });
  return found;
}

bool NatsClient::wait_reconnects(int n, int timeout_ms) {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return reconnects_ >= n; });
}

void NatsClient::on_error(natsConnection* nc, natsSubscription*, natsStatus err, void* self) {
  // The server's -ERR text (e.g. "Permissions Violation for Publish to …") is the connection's
  // last error while the handler runs.
  const char* text = nullptr;
  natsConnection_GetLastError(nc, &text);
  auto* c = static_cast<NatsClient*>(self);
  std::lock_guard lock(c->m_);
  c->errors_.emplace_back(err, text ? text : "");
  c->cv_.notify_all();
}

void NatsClient::on_reconnected(natsConnection*, void* self) {
  auto* c = static_cast<NatsClient*>(self);
  std::lock_guard lock(c->m_);
  ++c->reconnects_;
  c->cv_.notify_all();
}

}  // namespace ccmux::test
