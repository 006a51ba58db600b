// The one mapping between the JSON protocol (docs/protocol.md) and the ccmux.v1 messages.
// Objects ccmuxd makes are read field by field and also kept whole (`json`); claude's
// payloads and tool inputs stay the JSON bytes they were.
#pragma once

#include "ccmux/v1/approvals.pb.h"
#include "ccmux/v1/common.pb.h"
#include "ccmux/v1/events.pb.h"
#include "ccmux/v1/machine.pb.h"
#include "ccmux/v1/sessions.pb.h"

#include <grpcpp/support/status.h>
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace ccmux::grpcx {

namespace v1 = ::ccmux::v1;
using nlohmann::json;

// A request the client got wrong before it reached the daemon (bad JSON bytes, an image
// without a media type): answered INVALID_ARGUMENT with code bad_params.
struct BadRequest : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void to_proto(const json& j, v1::Session* out);
void to_proto(const json& j, v1::Approval* out);
void to_proto(const json& j, v1::Plugin* out);
void to_proto(const json& j, v1::Worktree* out);  // one entry of worktree.list

// An `{"type":"event",...}` message as the daemon sends it to a client. The payload is cut
// out byte for byte (never re-serialised). False when the message is not a valid event.
bool parse_event(std::string_view message, v1::Event* out);

// The daemon's approval messages to a watching client: {"type":"approvals","pending":[…]},
// {"type":"approval_requested"|"approval_resolved","approval":{…}}. Fills `pending` or `one`.
enum class ApprovalMessage { none, pending, requested, resolved };
ApprovalMessage read_approval_message(std::string_view message, v1::PendingApprovals* pending, v1::Approval* one);

// A prompt as the protocol's `prompt`: a string, or content blocks when images or
// content_json are given. Throws BadRequest.
json prompt_json(const v1::Prompt& p);
// JSON bytes from a client (params, updated_input): empty = `empty`; else one JSON value.
json json_bytes(const std::string& bytes, const char* field, json empty = json::object());

json answer_params(const v1::AnswerRequest& r);
json new_session_params(const v1::NewSessionRequest& r);

// docs/protocol.md error codes -> gRPC status codes (README.md has the table).
grpc::StatusCode status_code_for(const std::string& code);

}  // namespace ccmux::grpcx
