#include "grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ccmux::grpcx {

namespace {

std::string read_file(const std::string& path, const char* key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("transport-grpc: cannot read ") + key + " " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<grpc::ServerCredentials> credentials(const GrpcConfig& cfg) {
  if (cfg.plaintext) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair{read_file(cfg.tls_key, "tls_key"),
                                                         read_file(cfg.tls_cert, "tls_cert")};
  // With a CA: a certificate, when presented, must chain to it (TLS refuses it otherwise,
  // expired ones included); without one a token is needed. tokens: false makes it mandatory.
  grpc_ssl_client_certificate_request_type req = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (!cfg.client_ca.empty())
    req = cfg.tokens ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  grpc::SslServerCredentialsOptions opts(req);
  if (!cfg.client_ca.empty()) opts.pem_root_certs = read_file(cfg.client_ca, "client_ca");
  opts.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(opts);
}

}  // namespace

GrpcServer::GrpcServer(ccmux::Host& host, GrpcConfig cfg)
    : host_(host), cfg_(std::move(cfg)), clients_(host), auth_(host, cfg_) {}

GrpcServer::~GrpcServer() { stop(); }

void GrpcServer::start() {
  services_.push_back(make_sessions_service(*this));
  services_.push_back(make_approvals_service(*this));
  services_.push_back(make_events_service(*this));
  services_.push_back(make_machine_service(*this));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::string host = cfg_.listen.find(':') != std::string::npos && cfg_.listen.front() != '[' ? "[" + cfg_.listen + "]"
                                                                                                : cfg_.listen;
  int bound = 0;
  builder.AddListeningPort(host + ":" + std::to_string(cfg_.port), credentials(cfg_), &bound);
  builder.SetMaxReceiveMessageSize(static_cast<int>(cfg_.max_message_bytes));
  builder.SetMaxSendMessageSize(-1);  // events are bounded by the store (claude.max_event_bytes)
  // A connection that stalls in its TLS handshake holds one of ccmuxd's descriptors for
  // nothing: dropped after 10 s (gRPC's default is 120 s), ample for a phone on a bad network.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000);
  for (auto& s : services_) builder.RegisterService(s.get());
  server_ = builder.BuildAndStart();
  if (!server_ || bound == 0)
    throw std::runtime_error("transport-grpc: cannot listen on " + host + ":" + std::to_string(cfg_.port));
  host_.on_token_revoked([this](const std::string& name) { on_revoked("token", name); });
  host_.on_certificate_revoked([this](const std::string& name) { on_revoked("certificate", name); });
  host_.info("transport-grpc: listening on " + host + ":" + std::to_string(bound) +
             (cfg_.plaintext ? " (plain text, loopback)"
                             : cfg_.client_ca.empty() ? " (TLS, tokens)"
                                                      : cfg_.tokens ? " (mTLS or TLS + token)" : " (mTLS)"));
}

void GrpcServer::stop() {
  if (stopping_.exchange(true)) return;
  // Every call must be finished before Shutdown can return: end the streams, and fail the
  // unary calls still waiting for the daemon (closing their clients answers them).
  std::vector<std::shared_ptr<LiveStream>> streams;
  std::map<std::string, std::shared_ptr<DaemonClient>> clients;
  {
    std::lock_guard lock(mu_);
    for (auto& [_, w] : streams_)
      if (auto s = w.lock()) streams.push_back(s);
    clients.swap(unary_clients_);
  }
  grpc::Status bye(grpc::StatusCode::UNAVAILABLE, "ccmuxd is stopping");
  for (auto& s : streams) s->end(bye);
  for (auto& [_, c] : clients) c->close("ccmuxd is stopping");
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_.reset();
}

std::shared_ptr<DaemonClient> GrpcServer::unary_client(const Identity& who) {
  std::lock_guard lock(mu_);
  if (stopping_.load()) return nullptr;
  auto& c = unary_clients_[who.client_name];
  if (!c || c->closed()) c = DaemonClient::open(clients_, who.client_name, false, nullptr);
  return c;
}

void GrpcServer::add_stream(const std::shared_ptr<LiveStream>& s) {
  std::lock_guard lock(mu_);
  streams_[s.get()] = s;
}

void GrpcServer::remove_stream(const LiveStream* s) {
  std::lock_guard lock(mu_);
  streams_.erase(s);
}

size_t GrpcServer::live_streams() {
  std::lock_guard lock(mu_);
  return streams_.size();
}

void GrpcServer::on_revoked(const std::string& kind, const std::string& name) {
  std::vector<std::shared_ptr<LiveStream>> hit;
  std::vector<std::shared_ptr<DaemonClient>> clients;
  {
    std::lock_guard lock(mu_);
    for (auto& [_, w] : streams_)
      if (auto s = w.lock(); s && s->identity().kind == kind && s->identity().name == name) hit.push_back(s);
    std::string prefix = "grpc:" + kind + ":" + name + "@";
    for (auto it = unary_clients_.begin(); it != unary_clients_.end();)
      if (it->first.rfind(prefix, 0) == 0) {
        clients.push_back(it->second);
        it = unary_clients_.erase(it);
      } else {
        ++it;
      }
  }
  grpc::Status revoked(grpc::StatusCode::UNAUTHENTICATED, "the " + kind + " '" + name + "' was revoked");
  for (auto& s : hit) s->end(revoked);
  for (auto& c : clients) c->close("revoked");
  if (!hit.empty()) host_.info("transport-grpc: closed " + std::to_string(hit.size()) + " stream(s) of revoked " + kind + " " + name);
}

}  // namespace ccmux::grpcx
