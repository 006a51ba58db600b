// The routing decision alone (core/protocol/router.h) and the remote approvals' diff
// (core/approvals/remote_approvals.h): pure functions, no daemon.
#include "approvals/remote_approvals.h"
#include "protocol/router.h"

#include <gtest/gtest.h>

#include <vector>

using namespace ccmux;
using nlohmann::json;
using Kind = RouteDecision::Kind;

namespace {
const std::string kHere = "here";
RouteDecision with_router(const json& params) { return decide_route(params, &kHere); }
RouteDecision without_router(const json& params) { return decide_route(params, nullptr); }
}  // namespace

TEST(RouteDecision, HostNamingAnotherMachineOrAutoRoutesUnchanged) {
  auto d = with_router({{"host", "build-box"}, {"cwd", "/src"}});
  EXPECT_EQ(d.kind, Kind::remote);
  EXPECT_EQ(d.target, "build-box");
  d = with_router({{"host", "auto"}});
  EXPECT_EQ(d.kind, Kind::remote);
  EXPECT_EQ(d.target, "auto");
}

TEST(RouteDecision, HostNamingThisMachineOrLocalIsRemovedAndServedHere) {
  for (const char* h : {"here", "local", ""}) {
    auto d = with_router({{"host", h}, {"cwd", "/src"}});
    EXPECT_EQ(d.kind, Kind::local) << h;
    EXPECT_EQ(d.params, json({{"cwd", "/src"}})) << h;
  }
  auto d = without_router({{"host", "local"}});
  EXPECT_EQ(d.kind, Kind::local);
  EXPECT_EQ(d.params, json::object());
}

TEST(RouteDecision, SessionOrIdPrefixRoutesAndTheOwnPrefixIsStripped) {
  auto d = with_router({{"session", "build-box/s-1"}});
  EXPECT_EQ(d.kind, Kind::remote);
  EXPECT_EQ(d.target, "build-box");
  d = with_router({{"id", "laptop/a-9"}, {"decision", "allow"}});
  EXPECT_EQ(d.kind, Kind::remote);
  EXPECT_EQ(d.target, "laptop");
  d = with_router({{"session", "here/s-1"}, {"id", "here/a-2"}});
  EXPECT_EQ(d.kind, Kind::local);
  EXPECT_EQ(d.params, json({{"session", "s-1"}, {"id", "a-2"}}));
  // Nothing to strip: served with the params unchanged (no copy).
  d = with_router({{"session", "s-1"}});
  EXPECT_EQ(d.kind, Kind::local);
  EXPECT_TRUE(d.params.is_null());
}

TEST(RouteDecision, HostWinsOverPrefixesAndALocalHostStillRoutesAPrefix) {
  auto d = with_router({{"host", "a"}, {"session", "b/s-1"}});
  EXPECT_EQ(d.target, "a");
  d = with_router({{"host", "local"}, {"session", "b/s-1"}});
  EXPECT_EQ(d.kind, Kind::remote);
  EXPECT_EQ(d.target, "b");
}

TEST(RouteDecision, WithoutARouterOtherMachinesAreErrorsThatNameThem) {
  auto d = without_router({{"host", "build-box"}});
  EXPECT_EQ(d.kind, Kind::refused);
  EXPECT_EQ(d.code, "unknown_host");
  EXPECT_EQ(d.message, "no machine named build-box: the fleet plugin is not enabled");
  d = without_router({{"session", "build-box/s-1"}});
  EXPECT_EQ(d.code, "not_found");
  EXPECT_NE(d.message.find("build-box/s-1"), std::string::npos) << d.message;
  d = without_router({{"id", "x/a-1"}});
  EXPECT_EQ(d.code, "not_found");
}

TEST(RouteDecision, HostileValuesAreRefusedOrServedAsTheyAre) {
  // host of another type: bad_params, router or not.
  for (json h : {json(5), json(true), json::array({"a"}), json::object()}) {
    EXPECT_EQ(with_router({{"host", h}}).code, "bad_params") << h;
    EXPECT_EQ(without_router({{"host", h}}).code, "bad_params") << h;
  }
  EXPECT_EQ(with_router({{"host", nullptr}}).kind, Kind::local);  // null counts as absent
  // A host that is no machine name; a huge one is not echoed whole.
  auto d = with_router({{"host", "a b"}});
  EXPECT_EQ(d.code, "bad_params");
  d = with_router({{"host", std::string(100000, 'x')}});
  EXPECT_EQ(d.code, "bad_params");
  EXPECT_LT(d.message.size(), 300u);
  d = without_router({{"host", std::string(100000, 'x')}});
  EXPECT_EQ(d.code, "unknown_host");
  EXPECT_LT(d.message.size(), 300u);
  // "NAME/" names a machine but nothing on it.
  EXPECT_EQ(with_router({{"session", "box/"}}).code, "bad_params");
  EXPECT_EQ(with_router({{"session", "here/"}}).code, "bad_params");
  EXPECT_EQ(without_router({{"id", "box/"}}).code, "bad_params");
  // No machine name before the '/': no address, served as it is (the method says not_found).
  for (const std::string& v : std::vector<std::string>{"/", "/s-1", "a b/s-1", std::string(65, 'm') + "/s-1"}) {
    d = with_router({{"session", v}});
    EXPECT_EQ(d.kind, Kind::local) << v;
    EXPECT_TRUE(d.params.is_null()) << v;
  }
  // A session that is not a string is the method's to refuse.
  EXPECT_EQ(with_router({{"session", 7}}).kind, Kind::local);
}

TEST(RouteDecision, MachineNames) {
  EXPECT_TRUE(is_machine_name("build-box_2"));
  EXPECT_TRUE(is_machine_name(std::string(64, 'a')));
  EXPECT_FALSE(is_machine_name(std::string(65, 'a')));
  EXPECT_FALSE(is_machine_name(""));
  EXPECT_FALSE(is_machine_name("a.b"));
  EXPECT_FALSE(is_machine_name("a/b"));
}

TEST(RemoteApprovals, ReplaceSaysWhatIsNewAndWhatIsGone) {
  RemoteApprovals r;
  json a1 = {{"id", "m1/a-1"}, {"session", "m1/s-1"}, {"state", "pending"}, {"tool_name", "Bash"}};
  json a2 = {{"id", "m1/a-2"}, {"session", "m1/s-1"}, {"state", "pending"}};
  auto msgs = r.replace("m1", json::array({a1, a2}));
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(json::parse(msgs[0]), json({{"type", "approval_requested"}, {"approval", a1}}));
  EXPECT_EQ(r.pending(), json::array({a1, a2}));
  EXPECT_TRUE(r.replace("m1", json::array({a1, a2})).empty());  // no change, no message
  msgs = r.replace("m1", json::array({a2}));
  ASSERT_EQ(msgs.size(), 1u);
  json gone = json::parse(msgs[0]);
  EXPECT_EQ(gone["type"], "approval_resolved");
  EXPECT_EQ(gone["approval"]["id"], "m1/a-1");
  EXPECT_EQ(gone["approval"]["tool_name"], "Bash");  // as last known
  EXPECT_EQ(gone["approval"]["state"], "resolved");
  EXPECT_EQ(gone["approval"]["decision"], "unknown");
  // An entry that says it is resolved ends with its own decision.
  json a2done = a2;
  a2done["state"] = "resolved";
  a2done["decision"] = "allow";
  msgs = r.replace("m1", json::array({a2done}));
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(json::parse(msgs[0])["approval"], a2done);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_TRUE(r.machines().empty());
}

TEST(RemoteApprovals, MalformedEntriesAreSkippedAndMachinesKeptApart) {
  RemoteApprovals r;
  auto msgs = r.replace("m1", json::array({5, "x", json::object(), json({{"id", 7}}), json({{"id", ""}}),
                                           json({{"id", "m1/a-1"}}), json({{"id", "m1/a-1"}})}));
  EXPECT_EQ(msgs.size(), 1u);  // one valid entry (listed twice)
  r.replace("m2", json::array({json({{"id", "m2/a-1"}})}));
  EXPECT_EQ(r.size(), 2u);
  msgs = r.replace("m2", json::array());
  EXPECT_EQ(msgs.size(), 1u);
  EXPECT_EQ(r.pending(), json::array({json({{"id", "m1/a-1"}})}));
}
