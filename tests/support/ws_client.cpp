#include "ws_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace ccmux::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using nlohmann::json;

WsClient::WsClient(int port, WsOptions opts) {
  opts.host = "127.0.0.1";
  opts.port = port;
  opts.token.clear();  // login() sends the auth message itself
  ws_ = client::WsTransport::connect(opts);
}

WsClient::~WsClient() = default;

void WsClient::send(const std::string& text) { ws_->send(text); }

std::optional<std::string> WsClient::recv(int timeout_ms) {
  try {
    return ws_->receive(client::deadline_in(timeout_ms));
  } catch (const client::Disconnected&) {
    return std::nullopt;  // closed: closed() and close_code() say how
  }
}

std::optional<json> WsClient::recv_json(int timeout_ms) {
  if (!backlog_.empty()) {
    json m = std::move(backlog_.front());
    backlog_.pop_front();
    return m;
  }
  auto m = recv(timeout_ms);
  if (!m) return std::nullopt;
  return json::parse(*m);
}

bool WsClient::login(const std::string& token) {
  send_json({{"type", "auth"}, {"token", token}});
  auto a = recv_json();
  if (!a || a->value("type", "") != "auth" || !a->value("ok", false)) return false;
  send_json({{"type", "hello"}, {"protocol", 1}, {"client", "ws-test"}});
  auto h = recv_json();
  return h && h->value("type", "") == "hello";
}

json WsClient::request(const std::string& method, const json& params, int timeout_ms) {
  int id = next_id_++;
  send_json({{"type", "request"}, {"id", id}, {"method", method}, {"params", params}});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::deque<json> kept;
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto m = recv(static_cast<int>(left.count()) + 1);
    if (!m) break;
    json j = json::parse(*m);
    if (j.value("type", "") == "response" && j["id"] == id) {
      for (auto& k : kept) backlog_.push_back(std::move(k));
      return j;
    }
    kept.push_back(std::move(j));
  }
  for (auto& k : kept) backlog_.push_back(std::move(k));
  throw std::runtime_error("no response to " + method + (closed() ? " (closed: " + close_reason() + ")" : ""));
}

bool WsClient::closed() const { return ws_->closed(); }
int WsClient::close_code() const { return ws_->close_code(); }
std::string WsClient::close_reason() const { return ws_->close_reason(); }

namespace {
// One HTTP/1.1 exchange on a fresh loopback connection, the target sent as given.
beast::http::response<beast::http::string_body> http_exchange(int port, beast::http::request<beast::http::string_body> req) {
  namespace http = beast::http;
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.prepare_payload();
  http::write(sock, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res);
  return res;
}
}  // namespace

HttpReply http_get(int port, const std::string& target, const std::string& bearer) {
  namespace http = beast::http;
  http::request<http::string_body> req{http::verb::get, target, 11};
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  auto res = http_exchange(port, std::move(req));
  HttpReply r;
  r.status = static_cast<int>(res.result_int());
  r.content_type = std::string(res[http::field::content_type]);
  r.cache_control = std::string(res[http::field::cache_control]);
  r.body = res.body();
  return r;
}

std::string http_post(int port, const std::string& target, const std::string& body) {
  namespace http = beast::http;
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  return http_exchange(port, std::move(req)).body();
}

namespace {
// A blocking loopback socket (optionally from `bind_address`) that sent a WebSocket upgrade
// request; returns the HTTP status of the answer and leaves the socket right after its headers.
int raw_upgrade(int port, const std::string& bind_address, int& fd_out) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(strerror(errno)));
  fd_out = fd;
  timeval tv{10, 0};  // a bounded wait for the answer
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (!bind_address.empty()) {
    inet_pton(AF_INET, bind_address.c_str(), &a.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("bind " + bind_address + ": " + strerror(errno));
  }
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("connect: " + std::string(strerror(errno)));
  std::string req = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    throw std::runtime_error("send upgrade: " + std::string(strerror(errno)));
  std::string head;  // byte by byte: what follows the headers belongs to the WebSocket
  char ch;
  while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &ch, 1, 0) != 1) break;
    head.push_back(ch);
  }
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return 0;  // no answer (a refusal may be HTTP/1.0)
  return std::atoi(head.c_str() + 9);
}
}  // namespace

RawWs::RawWs(int port, const std::string& bind_address) {
  try {
    int status = raw_upgrade(port, bind_address, fd_);
    if (status != 101) throw std::runtime_error("upgrade answered " + std::to_string(status));
  } catch (...) {
    if (fd_ >= 0) ::close(fd_);
    throw;
  }
}

RawWs::~RawWs() {
  if (fd_ >= 0) ::close(fd_);
}

void RawWs::send_frame_header(uint64_t payload_len, bool fin, int opcode) {
  unsigned char h[14];
  size_t n = 0;
  h[n++] = static_cast<unsigned char>((fin ? 0x80 : 0) | (opcode & 0x0f));
  if (payload_len < 126) {
    h[n++] = static_cast<unsigned char>(0x80 | payload_len);
  } else if (payload_len <= 0xffff) {
    h[n++] = 0x80 | 126;
    h[n++] = static_cast<unsigned char>(payload_len >> 8);
    h[n++] = static_cast<unsigned char>(payload_len);
  } else {
    h[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) h[n++] = static_cast<unsigned char>(payload_len >> (8 * i));
  }
  for (int i = 0; i < 4; ++i) h[n++] = 0;  // masking key 0: the payload goes unchanged
  if (::send(fd_, h, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n))
    throw std::runtime_error("send frame header: " + std::string(strerror(errno)));
}

size_t RawWs::send_payload(size_t n, int timeout_ms) {
  static const std::string chunk(64 * 1024, 'x');
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t sent = 0;
  while (sent < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    if (p.revents & (POLLERR | POLLHUP)) break;
    ssize_t w = ::send(fd_, chunk.data(), std::min(chunk.size(), n - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      break;  // the server closed: EPIPE or ECONNRESET
    }
    sent += static_cast<size_t>(w);
  }
  return sent;
}

bool RawWs::wait_closed(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    ssize_t r = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

int ws_upgrade_status(int port, const std::string& bind_address) {
  int fd = -1;
  try {
    int status = raw_upgrade(port, bind_address, fd);
    ::close(fd);
    return status;
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
}

int free_tcp_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

}  // namespace ccmux::test
