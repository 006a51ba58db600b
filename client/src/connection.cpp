#include "ccmux/client/connection.h"

#include "ccmux/client/unix_transport.h"
#include "version.h"

namespace ccmux::client {

using nlohmann::json;

Connection::Connection(const std::string& socket_path, bool watch_approvals)
    : Connection(UnixTransport::connect(socket_path), HelloOptions{watch_approvals, "", 10000}) {}

Connection::Connection(std::unique_ptr<Transport> transport, const HelloOptions& hello) : transport_(std::move(transport)) {
  std::string name = hello.client.empty() ? std::string("ccmux/") + kVersion : hello.client;
  transport_->send(json{{"type", "hello"}, {"protocol", kProtocolVersion}, {"client", name},
                        {"watch_approvals", hello.watch_approvals}}.dump());
  auto line = transport_->receive(deadline_in(hello.timeout_ms));
  if (!line) throw ConnectError(ConnectFailure::no_answer, "ccmuxd did not answer hello");
  hello_ = json::parse(*line, nullptr, false);
  if (!hello_.is_object() || hello_.value("type", "") != "hello")
    throw ConnectError(ConnectFailure::refused,
                       "ccmuxd refused the connection: " + (hello_.is_object() ? hello_.value("message", *line) : *line));
}

json Connection::request(const std::string& method, const json& params, int timeout_ms) {
  int64_t id = next_id_++;
  transport_->send(json{{"type", "request"}, {"id", id}, {"method", method}, {"params", params}}.dump());
  Deadline deadline = deadline_in(timeout_ms);
  for (;;) {
    auto line = transport_->receive(deadline);
    if (!line) throw Timeout("no response to " + method + " within " + std::to_string(timeout_ms) + " ms");
    json msg = json::parse(*line, nullptr, false);
    if (msg.is_object() && msg.value("type", "") == "response" && msg.value("id", int64_t{-1}) == id) {
      if (msg.contains("error"))
        throw RequestFailed(msg["error"].value("code", "error"), msg["error"].value("message", "request failed"));
      return msg.value("result", json::object());
    }
    if (msg.is_object() && msg.value("type", "") == "error")
      throw RequestFailed(msg.value("code", "error"), msg.value("message", "error"));
    queued_.push_back(std::move(*line));
  }
}

std::optional<std::string> Connection::next_raw(Deadline deadline) {
  if (!queued_.empty()) {
    std::string line = std::move(queued_.front());
    queued_.pop_front();
    return line;
  }
  return transport_->receive(deadline);
}

std::optional<json> Connection::next(Deadline deadline) {
  auto line = next_raw(deadline);
  if (!line) return std::nullopt;
  return json::parse(*line, nullptr, false);
}

}  // namespace ccmux::client
