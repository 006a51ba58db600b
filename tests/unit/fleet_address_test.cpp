// The CLI's side of fleet addressing (docs/fleet.md, "Addressing"): which machine an id
// "MACHINE/s-…" sends a command to on the direct path (hosts.yaml), and the machines table of
// `ccmux ls --fleet`.
#include "address.h"
#include "fleet_table.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace ccmux::cli;
using nlohmann::json;

namespace {

HostsFile two_hosts() {
  HostsFile f;
  f.path = "/tmp/hosts.yaml";
  Host a, b;
  a.name = "box-a";
  b.name = "build.lan";
  f.hosts = {a, b};
  return f;
}

}  // namespace

TEST(FleetAddress, SplitsOnlyOnePrefixWithBothSidesPresent) {
  auto p = split_machine_prefix("build-box/s-1a2b3c4d");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->machine, "build-box");
  EXPECT_EQ(p->id, "s-1a2b3c4d");
  EXPECT_FALSE(split_machine_prefix("s-1a2b3c4d"));
  EXPECT_FALSE(split_machine_prefix("/s-1a2b3c4d"));
  EXPECT_FALSE(split_machine_prefix("build-box/"));
  EXPECT_FALSE(split_machine_prefix("a/b/s-1a2b3c4d"));
  EXPECT_FALSE(split_machine_prefix(""));
}

TEST(FleetAddress, AHostsYamlMachineIsConnectedToDirectlyWithThePrefixStripped) {
  HostsFile hosts = two_hosts();
  Resolved s = resolve_address("box-a/s-1a2b3c4d", hosts, false);
  EXPECT_EQ(s.host, "box-a");
  EXPECT_EQ(s.id, "s-1a2b3c4d");
  Resolved a = resolve_address("build.lan/a-00ff00ff", hosts, false);  // approvals alike; dots in names
  EXPECT_EQ(a.host, "build.lan");
  EXPECT_EQ(a.id, "a-00ff00ff");
}

TEST(FleetAddress, AnyOtherIdGoesUnchangedToTheDaemonAskedAnyway) {
  HostsFile hosts = two_hosts();
  // A machine hosts.yaml does not name: the local daemon's fleet routes it.
  Resolved fleet = resolve_address("elsewhere/s-1a2b3c4d", hosts, false);
  EXPECT_EQ(fleet.host, "");
  EXPECT_EQ(fleet.id, "elsewhere/s-1a2b3c4d");
  // A plain id.
  Resolved plain = resolve_address("s-1a2b3c4d", hosts, false);
  EXPECT_EQ(plain.host, "");
  EXPECT_EQ(plain.id, "s-1a2b3c4d");
  // Names are matched exactly (no case folding, no prefix match).
  EXPECT_EQ(resolve_address("BOX-A/s-1a2b3c4d", hosts, false).host, "");
  EXPECT_EQ(resolve_address("box/s-1a2b3c4d", hosts, false).host, "");
  // No hosts.yaml at all.
  EXPECT_EQ(resolve_address("box-a/s-1a2b3c4d", HostsFile{}, false).id, "box-a/s-1a2b3c4d");
}

TEST(FleetAddress, AGlobalHostWinsAndTheIdGoesThereUnchanged) {
  // `ccmux --host box-a attach build.lan/s-…`: box-a was chosen; its fleet routes the id.
  Resolved r = resolve_address("build.lan/s-1a2b3c4d", two_hosts(), true);
  EXPECT_EQ(r.host, "");
  EXPECT_EQ(r.id, "build.lan/s-1a2b3c4d");
}

TEST(FleetTable, OneLinePerMachineWithWhyItIsNotUp) {
  int64_t now = 1'800'000'000'000;
  json machines = json::parse(R"([
    {"name":"laptop","local":true,"state":"up","version":"0.9.0","fleet_protocol":[1,0],"live":2,"max_live":8,
     "mem_total":17179869184,"mem_available":5368709120,"sessions":3,"pending":1,"last_seen_ms":1800000000000},
    {"name":"build-box","local":false,"state":"down","version":"0.9.0","live":0,"max_live":16,"mem_available":0,
     "sessions":4,"pending":0,"last_seen_ms":1799999988000},
    {"name":"old","state":"incompatible","reason":"machine old speaks fleet protocol 2.0, laptop speaks 1.0: upgrade laptop"}
  ])");
  std::string t = machines_table(machines, now);
  EXPECT_EQ(t.substr(0, t.find('\n')).find("MACHINE"), 0u) << t;
  EXPECT_NE(t.find("laptop (here)"), std::string::npos) << t;
  EXPECT_NE(t.find(" up "), std::string::npos) << t;
  EXPECT_NE(t.find(" 2/8 "), std::string::npos) << t;
  EXPECT_NE(t.find(" 5.0G "), std::string::npos) << t;
  EXPECT_NE(t.find("0.9.0"), std::string::npos) << t;
  EXPECT_NE(t.find("build-box"), std::string::npos) << t;
  EXPECT_NE(t.find("last seen 12 s ago"), std::string::npos) << t;
  EXPECT_NE(t.find("upgrade laptop"), std::string::npos) << t;
  EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 4) << t;
}

TEST(FleetTable, FieldsOfAnotherVersionOrOfTheWrongTypeDoNotThrow) {
  // A newer minor may drop or retype fields: readers take defaults, never throw.
  json machines = json::parse(R"([{"name":"x","state":"up","live":"many","mem_available":null,"extra":{}}, 7, null])");
  std::string t;
  EXPECT_NO_THROW(t = machines_table(machines, 0));
  EXPECT_NE(t.find("x "), std::string::npos) << t;
  EXPECT_NO_THROW(machines_table(json::object(), 0));
  EXPECT_EQ(human_bytes(0), "-");
  EXPECT_EQ(human_bytes(734003200), "700M");
}

TEST(FleetAddress, EventsOfASessionReachedDirectlyShowTheMachinePrefix) {
  json ev = json::parse(R"({"type":"event","session":"s-1a2b3c4d","seq":7,"kind":"approval_requested",
    "payload":{"id":"a-00ff00ff","session":"s-1a2b3c4d","tool":"Bash"}})");
  json shown = with_machine_prefix(ev, "b");
  EXPECT_EQ(shown["session"], "b/s-1a2b3c4d");
  EXPECT_EQ(shown["payload"]["id"], "b/a-00ff00ff");
  EXPECT_EQ(shown["payload"]["session"], "b/s-1a2b3c4d");
  EXPECT_EQ(shown["payload"]["tool"], "Bash");
  EXPECT_EQ(ev["session"], "s-1a2b3c4d") << "the message itself is left as it came";
  // Only approvals' payload ids are ids; another event's payload keeps its fields.
  json text = with_machine_prefix(json{{"session", "s-1"}, {"kind", "result"}, {"payload", {{"id", "msg_1"}}}}, "b");
  EXPECT_EQ(text["session"], "b/s-1");
  EXPECT_EQ(text["payload"]["id"], "msg_1");
  // Already prefixed, not a string, not an object, no machine: unchanged.
  EXPECT_EQ(with_machine_prefix(json{{"session", "c/s-1"}}, "b")["session"], "c/s-1");
  EXPECT_EQ(with_machine_prefix(json{{"session", 5}}, "b")["session"], 5);
  EXPECT_EQ(with_machine_prefix(json::array({1}), "b"), json::array({1}));
  EXPECT_EQ(with_machine_prefix(json{{"session", "s-1"}}, "")["session"], "s-1");
  json odd = with_machine_prefix(json{{"kind", "approval_requested"}, {"payload", "x"}}, "b");
  EXPECT_EQ(odd["payload"], "x");
}
