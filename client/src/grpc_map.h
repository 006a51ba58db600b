// GrpcTransport's mapping from ccmux.v1 messages back to the JSON text ccmuxd writes on its
// local socket, byte for byte: the daemon dumps nlohmann objects (keys sorted) except for
// events, which it writes field by field (core/protocol/protocol_client.cpp event_message).
#pragma once

#include "ccmux/v1/events.pb.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace ccmux::client::grpcmap {

namespace v1 = ::ccmux::v1;

// {"type":"event","subscription":N,"session":S,"seq":N,"ts":N,"kind":K,"payload":P}
std::string event_text(const v1::Event& e);
// {"approval":{…},"type":"approval_requested"|"approval_resolved"}
std::string approval_text(const char* type, const v1::Approval& a);
// {"pending":[…],"type":"approvals"}
std::string pending_text(const v1::PendingApprovals& p);
// {"id":ID,"result":…,"type":"response"} or {"error":{"code","message"},"id":ID,"type":"response"}.
// A result that is not JSON becomes an error (the caller would wait for its answer forever).
std::string response_text(const nlohmann::json& id, const v1::Reply& r);
// The answer to hello: the daemon's own hello, or its protocol_mismatch error.
std::string hello_text(int64_t client_protocol, int64_t server_protocol, const std::string& server_version);
// {"code":C,"message":M,"type":"error"}: what the daemon says to a message it cannot take.
std::string error_text(const std::string& code, const std::string& message);
// A response with an error, as the daemon answers a request it refused.
std::string error_response_text(const nlohmann::json& id, const std::string& code, const std::string& message);

}  // namespace ccmux::client::grpcmap
