// The fleet plugin's pure parts: the wire format (versions, prefixes, event rewriting), the
// configuration (credentials file modes, plain text only on loopback) and the machine table.
#include "fleet_config.h"
#include "machines.h"
#include "wire.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace ccmux::fleet;

namespace {
std::string temp_file(const std::string& text, mode_t mode) {
  char path[] = "/tmp/fleet-creds-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  chmod(path, mode);
  return path;
}
std::string config(const std::string& extra = "") {
  return R"({"servers":["nats://127.0.0.1:4222"],"machine":"laptop")" + extra + "}";
}
}  // namespace

TEST(FleetWire, AnotherMajorIsRefusedNamingWhoMustUpgrade) {
  EXPECT_FALSE(version_problem(envelope(), "a", "b"));
  json minor = {{"fp", {1, 7}}};
  EXPECT_FALSE(version_problem(minor, "a", "b")) << "another minor interoperates";
  json newer = {{"fp", {2, 0}}};
  EXPECT_EQ(*version_problem(newer, "a", "b"), "machine b speaks fleet protocol 2.0, a speaks 1.0: upgrade a");
  json older = {{"fp", {0, 9}}};
  EXPECT_EQ(*version_problem(older, "a", "b"), "machine b speaks fleet protocol 0.9, a speaks 1.0: upgrade b");
  for (json bad : {json::object(), json{{"fp", "1.0"}}, json{{"fp", {1}}}, json{{"fp", {"1", "0"}}}})
    EXPECT_TRUE(version_problem(bad, "a", "b")) << bad.dump();
}

TEST(FleetWire, PrefixesGoOnDaemonIdsButNotIntoClaudesPayloads) {
  json r = {{"sessions", {{{"id", "s-1a2b"}, {"claude_session_id", "0f1e-uuid"}, {"cwd", "/x"}}}},
            {"approval", {{"id", "a-99"}, {"session", "s-1a2b"}, {"tool_use_id", "toolu_1"}, {"input", {{"id", "s-00"}}}}},
            {"payload", {{"session", "s-1a2b"}}},
            {"session", "s-ff"},
            {"id", "not-an-id"}};
  add_machine(r, "box");
  EXPECT_EQ(r["sessions"][0]["id"], "box/s-1a2b");
  EXPECT_EQ(r["sessions"][0]["claude_session_id"], "0f1e-uuid");
  EXPECT_EQ(r["approval"]["id"], "box/a-99");
  EXPECT_EQ(r["approval"]["session"], "box/s-1a2b");
  EXPECT_EQ(r["approval"]["tool_use_id"], "toolu_1");
  EXPECT_EQ(r["approval"]["input"]["id"], "s-00") << "a tool's input is claude's, not ours";
  EXPECT_EQ(r["payload"]["session"], "s-1a2b");
  EXPECT_EQ(r["session"], "box/s-ff");
  EXPECT_EQ(r["id"], "not-an-id");
}

TEST(FleetWire, TheOwnerGetsItsOwnIdsAndNoHost) {
  json p = params_for_owner({{"host", "box"}, {"session", "box/s-1"}, {"id", "box/a-2"}, {"prompt", "a/b"}});
  EXPECT_FALSE(p.contains("host"));
  EXPECT_EQ(p["session"], "s-1");
  EXPECT_EQ(p["id"], "a-2");
  EXPECT_EQ(p["prompt"], "a/b") << "only session and id are addresses";
  EXPECT_TRUE(params_for_owner(json::array()).is_object()) << "not an object: nothing to strip, no throw";
}

TEST(FleetWire, EventLinesAreRewrittenWithoutTouchingThePayload) {
  std::string line =
      R"({"type":"event","subscription":3,"session":"s-1","seq":42,"ts":1,"kind":"stream_event","payload":{"session":"s-1","seq":7}})";
  std::string out;
  uint64_t seq = 0;
  ASSERT_TRUE(rewrite_event(line, 1000000000000001ULL, "box/s-1", out, seq));
  EXPECT_EQ(seq, 42u);
  EXPECT_EQ(out,
            R"({"type":"event","subscription":1000000000000001,"session":"box/s-1","seq":42,"ts":1,"kind":"stream_event","payload":{"session":"s-1","seq":7}})");
  json parsed = json::parse(out);
  EXPECT_EQ(parsed["payload"]["seq"], 7);
  for (std::string bad : {std::string(""), std::string(R"({"type":"response"})"), std::string(R"({"type":"event","subscription":1})"),
                          std::string(R"({"type":"event","subscription":1,"session":"s"})"), std::string(R"({"type":"event")")})
    EXPECT_FALSE(rewrite_event(bad, 1, "x", out, seq)) << bad;
  EXPECT_EQ(event_seq(R"({"seq":18446744073709551615})"), 18446744073709551615ULL);
  EXPECT_EQ(event_seq("no seq"), 0u);
}

TEST(FleetWire, AnOwnersAnswerIsReadLenientlyAndFailuresSayWhy) {
  OwnerReply good = read_reply(envelope({{"ok", true}, {"result", {{"sessions", json::array()}}}}).dump(), "a", "b");
  EXPECT_TRUE(good.ok);
  EXPECT_TRUE(good.result.contains("sessions"));
  OwnerReply refused = read_reply(envelope({{"ok", false}, {"error", {{"code", "not_found"}, {"message", "no session"}}}}).dump(), "a", "b");
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.code, "not_found");
  EXPECT_EQ(refused.message, "no session");
  // A hostile or buggy owner: wrong types read as failures, never as an exception.
  OwnerReply odd = read_reply(envelope({{"ok", "yes"}, {"error", "boom"}}).dump(), "a", "b");
  EXPECT_FALSE(odd.ok);
  EXPECT_EQ(odd.code, "error");
  EXPECT_EQ(read_reply("[[[", "a", "b").code, "internal");
  EXPECT_EQ(read_reply(R"({"fp":[2,0],"ok":true})", "a", "b").code, "fleet_version");
  EXPECT_FALSE(get_bool(json{{"exists", "true"}}, "exists"));
  EXPECT_TRUE(get_bool(json{{"exists", true}}, "exists"));
}

TEST(FleetWire, MachineNamesAreSubjectTokens) {
  EXPECT_TRUE(valid_machine_name("build-box_2"));
  for (std::string bad : std::vector<std::string>{"", "a.b", "a*", "a>", "a b", "a/b", std::string(65, 'x')}) EXPECT_FALSE(valid_machine_name(bad)) << bad;
  EXPECT_EQ(get_int(json{{"n", "7"}}, "n", -1), -1) << "a wrong type reads as the default";
  EXPECT_EQ(get_uint(json{{"n", -3}}, "n", 5), 5u);
  EXPECT_EQ(get_str(json::array(), "n"), "");
}

TEST(FleetConfig, PlainTextOnlyToThisMachine) {
  EXPECT_NO_THROW(parse_fleet_config(config()));
  EXPECT_NO_THROW(parse_fleet_config(R"({"servers":["nats://localhost:4222","nats://[::1]:4"],"machine":"m"})"));
  try {
    parse_fleet_config(R"({"servers":["nats://10.0.0.5:4222"],"machine":"m"})");
    FAIL() << "plain text to another machine must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nats://10.0.0.5:4222 is not on this machine and has no TLS"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(parse_fleet_config(R"({"servers":["nats://10.0.0.5:4222"],"machine":"m","insecure":true})"));
  EXPECT_NO_THROW(parse_fleet_config(R"({"servers":["tls://10.0.0.5:4222"],"machine":"m"})"));
  EXPECT_THROW(parse_fleet_config(R"({"servers":["nats://u:p@127.0.0.1:4222"],"machine":"m"})"), std::runtime_error)
      << "credentials belong in the 0600 file, not in the config";
  EXPECT_THROW(parse_fleet_config(R"({"servers":[],"machine":"m"})"), std::runtime_error);
  EXPECT_THROW(parse_fleet_config(R"({"servers":["nats://127.0.0.1:1"],"machine":"a.b"})"), std::runtime_error);
  EXPECT_THROW(parse_fleet_config(config(R"(,"heartbeat_ms":4000,"down_after_ms":5000)")), std::runtime_error)
      << "one lost heartbeat must not mark a machine down";
}

TEST(FleetConfig, CredentialsFileMustBePrivateAndIsNeverEchoed) {
  std::string open_file = temp_file("ccmux-a:s3cret-word\n", 0644);
  try {
    parse_fleet_config(config(R"(,"credentials_file":")" + open_file + "\""));
    FAIL() << "a world-readable credentials file must be refused";
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("mode 0644"), std::string::npos) << msg;
    EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("s3cret"), std::string::npos) << "the password must not appear in an error";
  }
  std::string good = temp_file("ccmux-a:s3cret-word\n", 0600);
  FleetConfig c = parse_fleet_config(config(R"(,"credentials_file":")" + good + "\""));
  EXPECT_EQ(c.link.user, "ccmux-a");
  EXPECT_EQ(c.link.password, "s3cret-word");
  std::string garbage = temp_file("no colon here\n", 0600);
  try {
    parse_fleet_config(config(R"(,"credentials_file":")" + garbage + "\""));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).find("no colon here"), std::string::npos) << "contents are never echoed: " << e.what();
  }
  std::string seed = temp_file("SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n", 0400);
  EXPECT_THROW(parse_fleet_config(config(R"(,"credentials_file":")" + seed + "\"")), std::runtime_error) << "a seed needs its nkey";
  FleetConfig n = parse_fleet_config(config(R"(,"nkey":"UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4","credentials_file":")" + seed + "\""));
  EXPECT_EQ(n.link.nkey_seed_file, seed);
  std::string creds = temp_file("-----BEGIN NATS USER JWT-----\neyJ...\n------END NATS USER JWT------\n", 0600);
  EXPECT_EQ(parse_fleet_config(config(R"(,"credentials_file":")" + creds + "\"")).link.creds_file, creds);
  for (auto& f : {open_file, good, garbage, seed, creds}) unlink(f.c_str());
}

TEST(FleetMachines, SilentMachinesGoDownAndComeBackWithTheirSessionsKept) {
  MachineTable t("a");
  json hb = envelope({{"machine", "b"}, {"started_ms", 100}, {"live", 2}, {"max_live", 4}});
  EXPECT_TRUE(t.heard("b", hb, "")) << "new";
  EXPECT_FALSE(t.heard("b", hb, "")) << "nothing changed";
  t.find("b")->sessions = json::array({{{"id", "b/s-1"}}});
  EXPECT_TRUE(t.sweep(std::chrono::milliseconds(10000)).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto gone = t.sweep(std::chrono::milliseconds(20));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(t.find("b")->state, "down");
  EXPECT_TRUE(t.sweep(std::chrono::milliseconds(20)).empty()) << "down once, not at every sweep";
  EXPECT_EQ(t.find("b")->sessions.size(), 1u) << "a machine down keeps what it listed";
  EXPECT_TRUE(t.heard("b", hb, "")) << "back";
  json restarted = hb;
  restarted["started_ms"] = 200;
  EXPECT_TRUE(t.heard("b", restarted, "")) << "restarted: its subscriptions must be asked again";
  EXPECT_FALSE(t.heard("b", restarted, ""));
  t.heard("c", envelope({{"machine", "c"}, {"live", "many"}}), "machine c speaks fleet protocol 2.0 …");
  json c = t.describe(*t.find("c"));
  EXPECT_EQ(c["state"], "incompatible");
  EXPECT_EQ(c["live"], 0) << "a wrong type from another machine reads as 0, not an exception";
  EXPECT_EQ(t.up(), std::vector<std::string>{"b"});
}
