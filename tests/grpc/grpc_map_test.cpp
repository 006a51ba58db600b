// GrpcTransport's mapping back to the daemon's text, for what a live daemon does not send:
// strings that need escaping, an empty result, a reply that is not JSON, approvals without
// their whole object.
#include "grpc_map.h"

#include <gtest/gtest.h>

namespace ccmux::client::grpcmap {
namespace {

using nlohmann::json;

TEST(GrpcClientMap, EventTextKeepsTheDaemonsFieldOrderAndEscapesStrings) {
  v1::Event e;
  e.set_subscription(3);
  e.set_session("s-\"odd\"\n");
  e.set_seq(42);
  e.set_ts_ms(1700000000123);
  e.set_kind("stream_event");
  e.set_payload(R"({"b":1,"a":[1,2]})");
  EXPECT_EQ(event_text(e), R"({"type":"event","subscription":3,"session":"s-\"odd\"\n","seq":42,"ts":1700000000123,)"
                           R"("kind":"stream_event","payload":{"b":1,"a":[1,2]}})");
}

TEST(GrpcClientMap, RepliesBecomeResponsesWithTheCallersId) {
  v1::Reply r;
  r.set_result_json(R"({"pong":true})");
  EXPECT_EQ(response_text(json("a-1"), r), R"({"id":"a-1","result":{"pong":true},"type":"response"})");
  r.set_result_json("");
  EXPECT_EQ(response_text(json(7), r), R"({"id":7,"result":{},"type":"response"})");
  r.set_result_json("{not json");  // the caller must still get an answer, not wait forever
  auto broken = json::parse(response_text(json(8), r));
  EXPECT_EQ(broken["id"], 8);
  EXPECT_EQ(broken["error"]["code"], "internal");
  v1::Reply e;
  e.mutable_error()->set_code("not_found");
  e.mutable_error()->set_message("no session s-1");
  EXPECT_EQ(response_text(json(9), e),
            R"({"error":{"code":"not_found","message":"no session s-1"},"id":9,"type":"response"})");
}

TEST(GrpcClientMap, ApprovalMessagesUseTheWholeObjectOrItsTypedFields) {
  v1::Approval a;
  a.set_id("a-1");
  a.set_session("s-1");
  a.set_json(R"({"id":"a-1","session":"s-1","tool":"Bash","extra":true})");
  EXPECT_EQ(approval_text("approval_requested", a),
            R"({"approval":{"id":"a-1","session":"s-1","tool":"Bash","extra":true},"type":"approval_requested"})");
  v1::PendingApprovals p;
  EXPECT_EQ(pending_text(p), R"({"pending":[],"type":"approvals"})");
  a.clear_json();
  *p.add_approvals() = a;
  *p.add_approvals() = a;
  auto pending = json::parse(pending_text(p));
  ASSERT_EQ(pending["pending"].size(), 2u);
  EXPECT_EQ(pending["pending"][1]["id"], "a-1");
  EXPECT_EQ(pending["pending"][1]["session"], "s-1");
}

TEST(GrpcClientMap, HelloIsTheDaemonsOwnOrItsProtocolMismatch) {
  EXPECT_EQ(hello_text(1, 1, "0.1.0"), R"({"protocol":1,"server":"ccmuxd/0.1.0 via grpc","type":"hello"})");
  auto old_server = json::parse(hello_text(1, 0, "0.0.1"));
  EXPECT_EQ(old_server["type"], "error");
  EXPECT_EQ(old_server["code"], "protocol_mismatch");
  EXPECT_EQ(old_server["message"], "client speaks protocol 1, ccmuxd speaks 0: upgrade ccmuxd");
  EXPECT_EQ(old_server["protocol"], 0);
}

}  // namespace
}  // namespace ccmux::client::grpcmap
