#include "ccmux/client/ws_transport.h"

#include "ccmux/client/errors.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <deque>
#include <optional>

namespace ccmux::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WsTransport::Impl {
  asio::io_context ioc;
  asio::ssl::context ssl{asio::ssl::context::tls_client};
  using Plain = websocket::stream<tcp::socket>;
  using Tls = websocket::stream<beast::ssl_stream<tcp::socket>>;
  std::unique_ptr<Plain> plain;
  std::unique_ptr<Tls> tls;
  beast::flat_buffer buffer;
  std::deque<std::string> inbox;
  bool reading = false;
  bool is_closed = false;
  int code = 0;
  std::string reason;
  std::string url;

  template <class F>
  auto with(F f) {
    return plain ? f(*plain) : f(*tls);
  }
  tcp::socket& socket() { return plain ? plain->next_layer() : tls->next_layer().next_layer(); }

  // One read outstanding at a time; io_context runs only inside receive()/has_buffered(), so
  // a caller that stops receiving stops reading (the server sees a slow client).
  void start_read() {
    reading = true;
    with([this](auto& ws) {
      ws.async_read(buffer, [this](beast::error_code ec, size_t) {
        reading = false;
        if (ec) {
          is_closed = true;
          with([this](auto& s) {
            code = s.reason().code;
            reason = std::string(s.reason().reason.c_str());
          });
          return;
        }
        inbox.push_back(beast::buffers_to_string(buffer.data()));
        buffer.consume(buffer.size());
      });
      return 0;
    });
  }
};

WsTransport::WsTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {

// Runs one asynchronous step of the connect (`start` is given its completion handler) until it
// completes or `deadline` passes. A peer that takes the TCP connection and then says nothing
// (a hung machine, a port behind a filter) would otherwise block the synchronous call forever.
// Throws system_error: the step's error, or timed_out (the socket is closed then).
template <class Start>
void step(asio::io_context& ioc, tcp::socket& sock, Deadline deadline, Start start) {
  std::optional<boost::system::error_code> done;
  start([&done](boost::system::error_code ec, auto&&...) { done = ec; });
  ioc.restart();
  while (!done && (deadline == kForever ? ioc.run_one() : ioc.run_one_until(deadline)) > 0) {
  }
  if (!done) {
    boost::system::error_code ignored;
    sock.close(ignored);  // the step ends with operation_aborted; its handler must run before `done` goes
    ioc.restart();
    while (!done && ioc.run_one() > 0) {
    }
    throw boost::system::system_error(asio::error::timed_out);
  }
  if (*done) throw boost::system::system_error(*done);
}

std::string within(int ms) {
  char b[48];
  std::snprintf(b, sizeof b, "no answer within %g s", ms / 1000.0);
  return b;
}

}  // namespace

std::unique_ptr<WsTransport> WsTransport::connect(const WsOptions& o) {
  auto impl = std::make_unique<Impl>();
  auto& I = *impl;
  std::string hostport = o.host + ":" + std::to_string(o.port);
  I.url = (o.tls ? "wss://" : "ws://") + hostport + o.path;
  tcp::socket sock(I.ioc);
  Deadline deadline = deadline_in(o.connect_timeout_ms);
  try {
    tcp::resolver resolver(I.ioc);
    auto endpoints = resolver.resolve(o.host, std::to_string(o.port));
    boost::system::error_code ec = asio::error::host_not_found;
    for (auto& e : endpoints) {
      if (sock.is_open()) sock.close();
      sock.open(e.endpoint().protocol());
      if (o.recv_buffer > 0) sock.set_option(asio::socket_base::receive_buffer_size(o.recv_buffer));
      if (!o.bind_address.empty()) sock.bind(tcp::endpoint(asio::ip::make_address(o.bind_address), 0));
      try {
        step(I.ioc, sock, deadline, [&](auto handler) { sock.async_connect(e.endpoint(), handler); });
        ec = {};
        break;
      } catch (const boost::system::system_error& err) {
        ec = err.code();
        if (ec == asio::error::timed_out) break;  // the time is up for the other addresses too
      }
    }
    if (ec) throw boost::system::system_error(ec);
  } catch (const boost::system::system_error& e) {
    bool down = e.code() == asio::error::connection_refused || e.code() == asio::error::host_not_found;
    bool slow = e.code() == asio::error::timed_out;
    throw ConnectError(down ? ConnectFailure::not_running : slow ? ConnectFailure::no_answer : ConnectFailure::other,
                       "cannot reach ccmuxd at " + I.url + ": " + (slow ? within(o.connect_timeout_ms) : e.code().message()));
  }
  try {
    auto decorate = [&](auto& ws) {
      ws.read_message_max(256u << 20);
      ws.set_option(websocket::stream_base::decorator([origin = o.origin](websocket::request_type& req) {
        if (!origin.empty()) req.set(beast::http::field::origin, origin);
      }));
    };
    if (o.tls) {
      I.ssl.set_verify_mode(asio::ssl::verify_peer);
      if (!o.ca_file.empty()) I.ssl.load_verify_file(o.ca_file);
      else I.ssl.set_default_verify_paths();
      I.tls = std::make_unique<Impl::Tls>(std::move(sock), I.ssl);
      decorate(*I.tls);
      I.tls->next_layer().set_verify_callback(asio::ssl::host_name_verification(o.host));
      step(I.ioc, I.socket(), deadline,
           [&](auto handler) { I.tls->next_layer().async_handshake(asio::ssl::stream_base::client, handler); });
      step(I.ioc, I.socket(), deadline, [&](auto handler) { I.tls->async_handshake(hostport, o.path, handler); });
    } else {
      I.plain = std::make_unique<Impl::Plain>(std::move(sock));
      decorate(*I.plain);
      step(I.ioc, I.socket(), deadline, [&](auto handler) { I.plain->async_handshake(hostport, o.path, handler); });
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::timed_out)
      throw ConnectError(ConnectFailure::no_answer, "WebSocket handshake with " + I.url + ": " + within(o.connect_timeout_ms));
    throw ConnectError(ConnectFailure::handshake, "WebSocket handshake with " + I.url + " failed: " + e.code().message());
  }
  std::unique_ptr<WsTransport> t(new WsTransport(std::move(impl)));
  if (!o.token.empty()) {
    t->send(nlohmann::json{{"type", "auth"}, {"token", o.token}}.dump());
    std::optional<std::string> answer;
    try {
      answer = t->receive(deadline_in(o.timeout_ms));
    } catch (const Disconnected&) {
    }
    auto a = nlohmann::json::parse(answer.value_or(""), nullptr, false);
    if (!a.is_object() || a.value("type", "") != "auth" || !a.value("ok", false))
      throw ConnectError(ConnectFailure::handshake,
                         "ccmuxd at " + I.url + " did not accept the token" +
                             (a.is_object() && a.contains("message") ? ": " + a.value("message", "") : std::string()));
  }
  return t;
}

WsTransport::~WsTransport() { close(); }

void WsTransport::close() {
  beast::error_code ec;
  if (impl_->socket().is_open()) impl_->socket().close(ec);
}

void WsTransport::send(std::string_view message) {
  try {
    impl_->with([&](auto& ws) {
      ws.text(true);
      ws.write(asio::buffer(message.data(), message.size()));
      return 0;
    });
  } catch (const boost::system::system_error& e) {
    throw Disconnected("connection to ccmuxd lost: " + e.code().message());
  }
}

std::optional<std::string> WsTransport::receive(Deadline deadline) {
  auto& I = *impl_;
  // Until the read's own handler says closed: the socket may close inside Beast's close
  // handshake a step before that handler runs (and sets the close code).
  while (I.inbox.empty() && !I.is_closed) {
    if (!I.reading) I.start_read();
    I.ioc.restart();
    if (deadline == kForever) {
      I.ioc.run_one();
    } else {
      if (Clock::now() >= deadline) return std::nullopt;
      I.ioc.run_one_until(deadline);
    }
  }
  if (I.inbox.empty())
    throw Disconnected("connection to ccmuxd lost" +
                       (I.code ? " (closed: " + std::to_string(I.code) + " " + I.reason + ")" : std::string()));
  std::string m = std::move(I.inbox.front());
  I.inbox.pop_front();
  return m;
}

bool WsTransport::has_buffered() {
  auto& I = *impl_;
  if (I.inbox.empty() && !I.is_closed) {
    if (!I.reading) I.start_read();
    I.ioc.restart();
    I.ioc.poll();  // completes a read whose bytes already arrived, without waiting
  }
  return !I.inbox.empty();
}

int WsTransport::wait_fd() const { return impl_->socket().is_open() ? impl_->socket().native_handle() : -1; }
std::string WsTransport::endpoint() const { return impl_->url; }
bool WsTransport::closed() const { return impl_->is_closed; }
int WsTransport::close_code() const { return impl_->code; }
std::string WsTransport::close_reason() const { return impl_->reason; }

}  // namespace ccmux::client
