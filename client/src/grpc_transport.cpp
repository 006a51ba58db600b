#include "ccmux/client/grpc_transport.h"

#include "ccmux/client/errors.h"
#include "grpc_map.h"

#include "ccmux/v1/events.grpc.pb.h"
#include "ccmux/v1/machine.grpc.pb.h"

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace ccmux::client {

namespace v1 = ::ccmux::v1;
using nlohmann::json;

namespace {

// Events can be as large as claude.max_event_bytes (8 MiB by default, raised by some); gRPC's
// own 4 MiB limit would end the stream at the first big one. As WsTransport's frame limit.
constexpr int kMaxReceiveBytes = 256 << 20;
constexpr uint64_t kInternalIdBase = uint64_t{1} << 62;  // ids of our own calls (watch_approvals)

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "status";
  }
}

// gRPC logs a refused handshake on stderr by itself ("E1201 ... Handshake failed"); our
// ConnectError says it once, in words. GRPC_VERBOSITY set: the user wants gRPC's own log.
void quiet_grpc_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("GRPC_VERBOSITY")) gpr_set_log_function([](gpr_log_func_args*) {});
  });
}

// "localhost:PORT" goes to 127.0.0.1 without asking any resolver, as curl does (RFC 6761:
// localhost names are loopback). gRPC's resolver otherwise asks DNS servers for it, and where
// they refuse (CI's bare Debian root without /etc/hosts, a machine offline) the CLI failed to
// reach a daemon on its own machine with "DNS resolution failed for localhost". The
// certificate is still checked against "localhost", and :authority still says localhost.
struct Target {
  std::string channel_target;   // what the channel dials
  std::string tls_name;         // the name the server's certificate must carry ("": the target's host)
  std::string authority;        // ":authority" ("": gRPC's default from the target)
};

Target target_for(const std::string& address) {
  static constexpr std::string_view kLocal = "localhost:";
  if (address.size() > kLocal.size() && address.compare(0, kLocal.size(), kLocal) == 0) {
    std::string port = address.substr(kLocal.size());
    if (port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5)
      return {"ipv4:127.0.0.1:" + port, "localhost", address};
  }
  return {address, "", ""};
}

std::string describe(const grpc::Status& s) { return std::string(code_name(s.error_code())) + ": " + s.error_message(); }

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

std::string read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  if (in) ss << in.rdbuf();
  if (!in || ss.str().empty())
    throw ConnectError(ConnectFailure::other, std::string("cannot read the ") + what + " " + path);
  return ss.str();
}

std::shared_ptr<grpc::ChannelCredentials> credentials(const GrpcOptions& o) {
  if (!o.tls) return grpc::InsecureChannelCredentials();
  if (o.cert_file.empty() != o.key_file.empty())
    throw ConnectError(ConnectFailure::other, "a client certificate needs its key (cert_file and key_file go together)");
  grpc::SslCredentialsOptions ssl;
  if (!o.ca_file.empty()) ssl.pem_root_certs = read_pem(o.ca_file, "CA file");
  if (!o.cert_file.empty()) {
    ssl.pem_cert_chain = read_pem(o.cert_file, "client certificate");
    ssl.pem_private_key = read_pem(o.key_file, "client key");
  }
  return grpc::SslCredentials(ssl);
}

// Why Machine.Info failed, as the kind of failure a caller acts on.
ConnectError connect_error(const std::string& url, bool tls, const grpc::Status& s) {
  const std::string& m = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return ConnectError(ConnectFailure::handshake, "ccmuxd at " + url + " refused our credentials: " + describe(s));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return ConnectError(ConnectFailure::handshake, "ccmuxd at " + url + " refused us for now: " + describe(s));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return ConnectError(ConnectFailure::no_answer, "ccmuxd at " + url + " did not answer in time: " + describe(s));
    case grpc::StatusCode::UNAVAILABLE: {
      // gRPC says only UNAVAILABLE; its message tells a closed port from a refused handshake.
      if (!tls && contains(m, "Socket closed"))
        return ConnectError(ConnectFailure::handshake, "ccmuxd at " + url +
                                                           " closed the plain-text connection (does it expect TLS?): " + describe(s));
      if (contains(m, "Ssl") || contains(m, "SSL") || contains(m, "ssl") || contains(m, "andshake") ||
          contains(m, "certificate") || contains(m, "Socket closed") || contains(m, "Connection reset"))
        return ConnectError(ConnectFailure::handshake,
                            "TLS with ccmuxd at " + url + " failed (certificate refused, or not a TLS server): " + describe(s));
      if (contains(m, "onnection refused") || contains(m, "DNS resolution failed") || contains(m, "No such file") ||
          contains(m, "failed to connect"))
        return ConnectError(ConnectFailure::not_running, "cannot reach ccmuxd at " + url + " (is it running, with transport-grpc?): " + describe(s));
      return ConnectError(ConnectFailure::other, "cannot reach ccmuxd at " + url + ": " + describe(s));
    }
    case grpc::StatusCode::UNIMPLEMENTED:
      return ConnectError(ConnectFailure::refused, url + " is a gRPC server without ccmux.v1: " + describe(s));
    default:
      return ConnectError(ConnectFailure::other, "ccmuxd at " + url + ": " + describe(s));
  }
}

}  // namespace

struct GrpcTransport::Impl {
  GrpcOptions opts;
  std::string url;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Events::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientMessage, v1::ServerMessage>> stream;
  std::thread reader;
  int efd = -1;
  int64_t server_protocol = 0;
  std::string version, identity;

  std::mutex mu;  // everything below, shared with the reader thread
  std::condition_variable cv;    // a message came, or the stream ended
  std::condition_variable room;  // the inbox has room again
  std::deque<std::string> inbox;
  size_t inbox_bytes = 0;
  std::map<uint64_t, json> ids;  // our call id -> the caller's JSON id
  uint64_t next_id = 1;
  bool hello_done = false;
  bool ended = false;  // the stream ended (or close() was called): nothing more will come
  std::string why;
  std::mutex write_mu;  // one Write at a time; Finish not during a Write

  // `from_stream`: a message read from the stream. While the inbox holds inbox_bytes the reader
  // waits, gRPC's flow control stops the server's writes, and the daemon pauses this stream
  // and replays what it missed from its store later: a caller that does not receive costs
  // bounded memory and loses nothing. Local answers never wait (the caller's own thread).
  void push(std::string m, bool from_stream = false) {
    std::unique_lock lk(mu);
    if (from_stream) room.wait(lk, [&] { return inbox_bytes < opts.inbox_bytes || ended; });
    if (ended) return;
    inbox_bytes += m.size();
    inbox.push_back(std::move(m));
    uint64_t one = 1;
    (void)!::write(efd, &one, sizeof one);
    cv.notify_all();
  }

  void end(std::string reason) {
    std::lock_guard lk(mu);
    if (ended) return;
    ended = true;
    why = std::move(reason);
    uint64_t one = 1;
    (void)!::write(efd, &one, sizeof one);  // stays readable: receive() will throw
    cv.notify_all();
    room.notify_all();
  }

  void read_loop() {
    v1::ServerMessage m;
    while (stream->Read(&m)) {
      switch (m.body_case()) {
        case v1::ServerMessage::kReply: {
          json id;
          {
            std::lock_guard lk(mu);
            auto it = ids.find(m.reply().id());
            if (it == ids.end()) break;  // our own call (watch_approvals), or a stray id
            id = std::move(it->second);
            ids.erase(it);
          }
          push(grpcmap::response_text(id, m.reply()), true);
          break;
        }
        case v1::ServerMessage::kEvent: push(grpcmap::event_text(m.event()), true); break;
        case v1::ServerMessage::kApprovalRequested: push(grpcmap::approval_text("approval_requested", m.approval_requested()), true); break;
        case v1::ServerMessage::kApprovalResolved: push(grpcmap::approval_text("approval_resolved", m.approval_resolved()), true); break;
        case v1::ServerMessage::kApprovalsPending: push(grpcmap::pending_text(m.approvals_pending()), true); break;
        default: break;  // `subscribed` answers ClientMessage.subscribe, which we never send
      }
      m.Clear();
    }
    grpc::Status s;
    {
      std::lock_guard lk(write_mu);
      s = stream->Finish();
    }
    end("connection to ccmuxd at " + url + " lost (" + describe(s) + ")");
  }

  void write(const v1::ClientMessage& m) {
    {
      std::lock_guard lk(mu);
      if (ended) throw Disconnected(why);
    }
    bool ok;
    {
      std::lock_guard lk(write_mu);
      ok = stream->Write(m);
    }
    if (!ok) throw Disconnected("connection to ccmuxd at " + url + " lost (the stream ended)");
  }

  void hello(const json& msg) {
    int64_t protocol = 0;
    if (auto it = msg.find("protocol"); it != msg.end() && it->is_number_integer()) protocol = it->get<int64_t>();
    bool watch = msg.value("watch_approvals", false);
    if (protocol != server_protocol) return push(grpcmap::hello_text(protocol, server_protocol, version));
    {
      std::lock_guard lk(mu);
      hello_done = true;
    }
    push(grpcmap::hello_text(protocol, server_protocol, version));
    if (watch) {
      // The daemon's hello option is a message of its own here; its reply is ours, not the
      // caller's (its id is in no map), and the pending list follows as approvals_pending.
      v1::ClientMessage m;
      m.set_id(kInternalIdBase);
      m.mutable_watch_approvals();
      write(m);
    }
  }

  void request(const json& msg) {
    json id = msg.contains("id") ? msg["id"] : json();
    auto method = msg.find("method");
    if (method == msg.end() || !method->is_string())
      return push(grpcmap::error_response_text(id, "bad_message", "field 'method' must be a string"));
    auto params = msg.find("params");
    if (params != msg.end() && !params->is_null() && !params->is_object())
      return push(grpcmap::error_response_text(id, "bad_params", "'params' must be an object"));
    v1::ClientMessage m;
    {
      std::lock_guard lk(mu);
      m.set_id(next_id++);
      ids[m.id()] = id;
    }
    m.mutable_call()->set_method(method->get<std::string>());
    if (params != msg.end() && params->is_object())
      m.mutable_call()->set_params_json(params->dump(-1, ' ', false, json::error_handler_t::replace));
    write(m);
  }
};

GrpcTransport::GrpcTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<GrpcTransport> GrpcTransport::connect(const GrpcOptions& o) {
  quiet_grpc_log();
  auto impl = std::make_unique<Impl>();
  auto& I = *impl;
  I.opts = o;
  I.url = (o.tls ? "grpcs://" : "grpc://") + o.address;
  if (o.address.empty()) throw ConnectError(ConnectFailure::other, "no gRPC address given (host:port)");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  Target target = target_for(o.address);
  if (o.tls && !o.server_name.empty()) args.SetSslTargetNameOverride(o.server_name);
  else if (o.tls && !target.tls_name.empty()) args.SetSslTargetNameOverride(target.tls_name);
  if (!target.authority.empty()) args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, target.authority);
  // Our own connection, not one shared with other channels of this process: a transport
  // made after a daemon restart must not inherit a dead subchannel's backoff.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A peer that vanished without a FIN (laptop asleep, Wi-Fi gone) would leave Read() waiting
  // forever. Pings every 5.5 min: a server with gRPC's defaults (ours) refuses pings closer
  // than 5 min apart as abuse (GOAWAY too_many_pings); unlimited while the stream is idle.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 330000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  I.channel = grpc::CreateCustomChannel(target.channel_target, credentials(o), args);
  auto authorize = [&](grpc::ClientContext& ctx) {
    if (!o.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o.token);
  };

  // Info first: reachability, TLS and credentials are answered here with a clear reason,
  // and the protocol version for hello.
  {
    grpc::ClientContext ctx;
    authorize(ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o.timeout_ms));
    v1::InfoResponse info;
    grpc::Status s = v1::Machine::NewStub(I.channel)->Info(&ctx, v1::InfoRequest{}, &info);
    if (!s.ok()) throw connect_error(I.url, o.tls, s);
    I.server_protocol = info.protocol();
    I.version = info.version();
    I.identity = info.identity();
  }

  I.efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (I.efd < 0) throw ConnectError(ConnectFailure::other, "eventfd failed");
  authorize(I.ctx);
  I.stub = v1::Events::NewStub(I.channel);
  I.stream = I.stub->Connect(&I.ctx);
  std::unique_ptr<GrpcTransport> t(new GrpcTransport(std::move(impl)));
  t->impl_->reader = std::thread([p = t->impl_.get()] { p->read_loop(); });
  return t;
}

GrpcTransport::~GrpcTransport() {
  close();
  if (impl_->efd >= 0) ::close(impl_->efd);
}

void GrpcTransport::close() {
  auto& I = *impl_;
  I.end("connection to ccmuxd at " + I.url + " closed");  // first: the reader's own reason would say "lost"
  if (I.stream) I.ctx.TryCancel();
  if (I.reader.joinable()) I.reader.join();
  std::lock_guard lk(I.mu);
  I.inbox.clear();
  I.inbox_bytes = 0;
}

void GrpcTransport::send(std::string_view message) {
  auto& I = *impl_;
  json msg = json::parse(message, nullptr, false);
  if (!msg.is_object()) return I.push(grpcmap::error_text("bad_message", "each message must be one JSON object"));
  std::string type = msg.value("type", "");
  if (type == "hello") return I.hello(msg);
  bool hello_done;
  {
    std::lock_guard lk(I.mu);
    hello_done = I.hello_done;
  }
  if (!hello_done) return I.push(grpcmap::error_text("hello_required", "send hello with the protocol version first"));
  if (type == "request") return I.request(msg);
  I.push(grpcmap::error_text("bad_message", "unknown message type '" + type + "'"));
}

std::optional<std::string> GrpcTransport::receive(Deadline deadline) {
  auto& I = *impl_;
  std::unique_lock lk(I.mu);
  auto ready = [&] { return !I.inbox.empty() || I.ended; };
  if (deadline == kForever) I.cv.wait(lk, ready);
  else if (!I.cv.wait_until(lk, deadline, ready)) return std::nullopt;
  if (I.inbox.empty()) throw Disconnected(I.why);
  std::string m = std::move(I.inbox.front());
  I.inbox.pop_front();
  I.inbox_bytes -= m.size();
  I.room.notify_all();
  if (I.inbox.empty() && !I.ended) {
    uint64_t n;
    (void)!::read(I.efd, &n, sizeof n);  // not readable again until the next message
  }
  return m;
}

size_t GrpcTransport::buffered_bytes() const {
  std::lock_guard lk(impl_->mu);
  return impl_->inbox_bytes;
}

bool GrpcTransport::has_buffered() {
  std::lock_guard lk(impl_->mu);
  return !impl_->inbox.empty();
}

int GrpcTransport::wait_fd() const { return impl_->efd; }
std::string GrpcTransport::endpoint() const { return impl_->url; }
std::string GrpcTransport::server_version() const { return impl_->version; }
std::string GrpcTransport::identity() const { return impl_->identity; }

}  // namespace ccmux::client
