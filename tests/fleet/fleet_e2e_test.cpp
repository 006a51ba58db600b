// Fleet mode end to end: real nats-server processes (one server, a 3-node cluster, a hub and
// a leaf), several ccmuxd machines with the fleet plugin, the real claude CLI against the
// fake Messages API. Each machine has its own state dir, socket and project root.
#include "e2e.h"
#include "fleet_fixture.h"
#include "nats_server.h"
#include "ws_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

using namespace ccmux;
using namespace ccmux::test;
namespace fs = std::filesystem;

namespace {

class FleetE2E : public FleetFixture {
 protected:
  static json find_session(const json& list, const std::string& id) {
    for (auto& s : list["sessions"])
      if (s["id"] == id) return s;
    return nullptr;
  }

};

}  // namespace

TEST_F(FleetE2E, ThreeMachinesSeeEachOtherAndStartSessionsOnANamedMachine) {
  NatsServer nats;
  MachineOptions o{{nats.url()}};
  Machine& a = add("alpha", o);
  Machine& b = add("bravo", o);
  Machine& c = add("charlie", o);
  ASSERT_TRUE(wait_state(a, {"alpha", "bravo", "charlie"}, "up"));

  // From alpha's socket, a session on bravo, in bravo's project folder.
  json s = a.c->request("session.new", {{"host", "bravo"}, {"cwd", b.d->project()}, {"prompt", "echo: hello from bravo"}});
  std::string id = s["id"];
  ASSERT_EQ(id.rfind("bravo/s-", 0), 0u) << s.dump();
  EXPECT_EQ(s["host"], "bravo");
  EventLog log(*a.c, id);
  ASSERT_TRUE(log.wait_kind("result", 90000));
  EXPECT_EQ(log.streamed_text(), "hello from bravo");
  for (auto& e : log.events()) EXPECT_EQ(e["session"], id);
  // The session lives on bravo: its own socket lists it without a prefix.
  json local = b.c->request("session.list");
  ASSERT_EQ(local["sessions"].size(), 1u);
  EXPECT_EQ("bravo/" + local["sessions"][0]["id"].get<std::string>(), id);
  EXPECT_TRUE(a.c->request("session.list")["sessions"].empty()) << "alpha's own list holds only alpha's sessions";

  // charlie runs one of its own; every machine's fleet.sessions shows both.
  std::string mine = c.c->request("session.new", {{"cwd", c.d->project()}, {"prompt", "echo: charlie's"}})["id"];
  for (Machine* m : {&a, &b, &c}) {
    json all = m->c->request("fleet.sessions");
    json one = find_session(all, id), two = find_session(all, "charlie/" + mine);
    ASSERT_FALSE(one.is_null()) << m->name << ": " << all.dump();
    ASSERT_FALSE(two.is_null()) << m->name << ": " << all.dump();
    EXPECT_EQ(one["host"], "bravo");
    EXPECT_EQ(one["reachable"], true);
    EXPECT_EQ(all["machines"].size(), 3u);
  }
  // A session of another machine answers get/send like a local one, with the prefix.
  EXPECT_EQ(a.c->request("session.get", {{"session", id}})["id"], id);
  json sent = a.c->request("session.send", {{"session", id}, {"prompt", "echo: second turn"}});
  EXPECT_EQ(sent["session"], id);
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() == 2; }, 90000));
  EXPECT_NE(log.streamed_text().find("second turn"), std::string::npos);

  // The CLI on alpha: `ls --fleet` shows every machine and the remote session; `new --host`.
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", a.d->socket(), "ls", "--fleet"}, &out), 0) << out;
  for (const char* want : {"alpha", "bravo", "charlie"}) EXPECT_NE(out.find(want), std::string::npos) << out;
  EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_NE(out.find("charlie/" + mine), std::string::npos) << out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", a.d->socket(), "new", "--host", "charlie", "--cwd", c.d->project(),
                         "echo: from the cli"},
                        &out),
            0)
      << out;
  EXPECT_NE(out.find("charlie/s-"), std::string::npos) << out;
  EXPECT_EQ(c.c->request("session.list")["sessions"].size(), 2u) << "the CLI's session runs on charlie";

  // `ccmux attach bravo/s-… --no-follow` on alpha's socket: the stored events, through the fleet.
  ASSERT_EQ(run_command({ccmux_bin(), "--socket", a.d->socket(), "attach", id, "--no-follow", "--json"}, &out), 0) << out;
  uint64_t lines = 0, last = 0;
  for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1) {
    json ev = json::parse(out.substr(at, nl - at));
    ASSERT_EQ(ev["seq"].get<uint64_t>(), last + 1) << "in order, no gap, no duplicate";
    last = ev["seq"];
    ++lines;
  }
  EXPECT_EQ(last, b.c->request("session.get", {{"session", local["sessions"][0]["id"]}})["last_seq"].get<uint64_t>());
  EXPECT_GT(lines, 10u);

  // Refusals name the machine.
  try {
    a.c->request("session.get", {{"session", "nowhere/s-00000000"}});
    FAIL() << "an unknown machine must be refused";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "unknown_host");
    EXPECT_NE(std::string(e.what()).find("no machine named nowhere"), std::string::npos) << e.what();
  }
}

TEST_F(FleetE2E, AutoPlacesTheSessionOnTheMachineThatHasTheFolderOrSaysWhyNot) {
  NatsServer nats;
  MachineOptions o{{nats.url()}};
  Machine& a = add("alpha", o);
  Machine& b = add("bravo", o);
  ASSERT_TRUE(wait_state(a, {"alpha", "bravo"}, "up"));
  fs::create_directories(b.d->project() + "/only-here");
  json s = a.c->request("session.new", {{"host", "auto"}, {"cwd", b.d->project() + "/only-here"}, {"prompt", "echo: placed"}});
  EXPECT_EQ(s["id"].get<std::string>().rfind("bravo/", 0), 0u) << "only bravo has the folder under a project root: " << s.dump();
  try {
    a.c->request("session.new", {{"host", "auto"}, {"cwd", "/no/such/folder"}});
    FAIL() << "nobody has the folder";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "no_machine");
    EXPECT_NE(std::string(e.what()).find("no machine has the folder /no/such/folder"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("alpha"), std::string::npos) << "says whom it asked: " << e.what();
  }
}

TEST_F(FleetE2E, AttachingARemoteSessionFromSeqOneMidStreamHasNoGapAndNoDuplicate) {
  NatsServer nats;
  MachineOptions o{{nats.url()}};
  Machine& a = add("alpha", o);
  Machine& b = add("bravo", o);
  ASSERT_TRUE(wait_state(a, {"alpha", "bravo"}, "up"));
  std::string local = b.c->request("session.new", {{"cwd", b.d->project()}, {"prompt", "deltas: 3000"}})["id"];
  EventLog on_b(*b.c, local);
  ASSERT_TRUE(on_b.wait_for([](const json& e) { return e["seq"].get<uint64_t>() > 300; }, 90000)) << "mid-stream";
  EventLog on_a(*a.c, "bravo/" + local, 1);
  ASSERT_TRUE(on_a.wait_kind("result", 120000));
  ASSERT_TRUE(on_b.wait_kind("result", 60000));
  uint64_t expect = 1;
  for (auto& e : on_a.events()) {
    ASSERT_EQ(e["seq"].get<uint64_t>(), expect) << "gap or duplicate";
    ++expect;
  }
  EXPECT_EQ(on_a.events().size(), on_b.events().size()) << "the same events as the owner's own client";
  EXPECT_EQ(on_a.streamed_text(), on_b.streamed_text());
}

TEST_F(FleetE2E, AnApprovalOfBravoIsAnsweredFromAlphasCliAndRecordedWithWhoAndWhere) {
  NatsServer nats;
  MachineOptions o{{nats.url()}};
  Machine& a = add("alpha", o);
  Machine& b = add("bravo", o);
  ASSERT_TRUE(wait_state(a, {"alpha", "bravo"}, "up"));
  auto watcher = a.d->connect(true);
  std::string local = b.c->request("session.new", {{"cwd", b.d->project()}, {"prompt", bash("touch approved-from-alpha.txt")}})["id"];
  json pending = next_approval(*watcher);
  ASSERT_FALSE(pending.is_null()) << "alpha's watching client hears of bravo's approval";
  std::string id = pending["id"];
  EXPECT_EQ(id.rfind("bravo/a-", 0), 0u) << pending.dump();
  EXPECT_EQ(pending["session"], "bravo/" + local);
  EXPECT_EQ(pending["tool"], "Bash");
  // alpha's approvals.list shows it too; the answer goes from alpha's CLI.
  json list = a.c->request("approvals.list");
  ASSERT_EQ(list["approvals"].size(), 1u) << list.dump();
  EXPECT_FALSE(fs::exists(b.d->project() + "/approved-from-alpha.txt"));
  std::string out;
  int rc = run_command({ccmux_bin(), "--socket", a.d->socket(), "approve", id}, &out);
  EXPECT_EQ(rc, 0) << out;
  EventLog log(*b.c, local);
  ASSERT_TRUE(log.wait_kind("result", 90000));
  EXPECT_TRUE(fs::exists(b.d->project() + "/approved-from-alpha.txt")) << "the tool ran on bravo";
  auto resolved = log.of_kind("approval_resolved");
  ASSERT_FALSE(resolved.empty());
  std::string by = resolved.back()["payload"]["decided_by"];
  EXPECT_NE(by.find("fleet:alpha/"), std::string::npos) << "who answered, from which machine: " << by;
  // A second answer from anywhere does not change the first.
  json again = b.c->request("approval.answer", {{"id", id.substr(id.find('/') + 1)}, {"decision", "deny"}});
  EXPECT_EQ(again["status"], "already_resolved");
  EXPECT_TRUE(eventually([&] { return a.c->request("approvals.list")["approvals"].empty(); }, 10000))
      << "resolved on bravo: gone from alpha's list: " << a.c->request("approvals.list").dump();
}

TEST_F(FleetE2E, ANatsNodeDyingMidStreamLosesNoEventAndNoApproval) {
  NatsCluster cluster;
  // alpha prefers node 0, bravo node 1: the stream crosses the cluster, then node 0 dies.
  auto urls = cluster.urls();
  Machine& a = add("alpha", {{urls[0], urls[1], urls[2]}});
  Machine& b = add("bravo", {{urls[1], urls[2], urls[0]}});
  ASSERT_TRUE(wait_state(a, {"alpha", "bravo"}, "up"));
  std::string local = b.c->request("session.new", {{"cwd", b.d->project()}, {"prompt", "deltas: 20000"}})["id"];
  EventLog on_a(*a.c, "bravo/" + local, 1);
  ASSERT_TRUE(on_a.wait_for([](const json& e) { return e["seq"].get<uint64_t>() > 200; }, 90000));
  cluster.node(0).kill9();
  ASSERT_TRUE(on_a.wait_kind("result", 180000)) << "the stream goes on through another node";
  uint64_t expect = 1;
  for (auto& e : on_a.events()) {
    ASSERT_EQ(e["seq"].get<uint64_t>(), expect) << "gap or duplicate after the node died";
    ++expect;
  }
  EventLog on_b(*b.c, local);
  ASSERT_TRUE(on_b.wait_kind("result", 30000));
  EXPECT_EQ(on_a.events().size(), on_b.events().size());

  // An approval asked while alpha reconnects still reaches alpha and is answered from there.
  auto watcher = a.d->connect(true);
  b.c->request("session.send", {{"session", local}, {"prompt", bash("touch after-the-node-died.txt")}});
  json pending = next_approval(*watcher);
  ASSERT_FALSE(pending.is_null());
  json res = a.c->request("approval.answer", {{"id", pending["id"]}, {"decision", "allow"}, {"by", "test"}});
  EXPECT_EQ(res["status"], "resolved");
  EXPECT_TRUE(eventually([&] { return fs::exists(b.d->project() + "/after-the-node-died.txt"); }, 90000));
}

TEST_F(FleetE2E, AMachineKilledIsShownDownWithinTenSecondsAndComesBackWithItsSessions) {
  NatsServer nats;
  MachineOptions defaults{{nats.url()}};
  defaults.heartbeat_ms = 2000;  // the shipped defaults: down after 6 s
  defaults.down_after_ms = 6000;
  Machine& a = add("alpha", defaults);
  Machine& b = add("bravo", defaults);
  ASSERT_TRUE(wait_state(a, {"alpha", "bravo"}, "up"));
  std::string local = b.c->request("session.new", {{"cwd", b.d->project()}, {"prompt", "echo: still here"}})["id"];
  EventLog log(*b.c, local);
  ASSERT_TRUE(log.wait_kind("result", 90000));
  ASSERT_FALSE(find_session(a.c->request("fleet.sessions"), "bravo/" + local).is_null());

  b.c.reset();
  b.d->kill9();
  auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_state(a, {"bravo"}, "down", 15000));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(secs, 10.0) << "shown down within 10 s";
  json during = a.c->request("fleet.sessions");
  json s = find_session(during, "bravo/" + local);
  ASSERT_FALSE(s.is_null()) << "unreachable, not lost: " << during.dump();
  EXPECT_EQ(s["reachable"], false);
  try {
    a.c->request("session.get", {{"session", "bravo/" + local}});
    FAIL() << "a request to a down machine fails at once";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "machine_down");
  }

  b.d->start();
  b.c = b.d->connect();
  ASSERT_TRUE(wait_state(a, {"bravo"}, "up", 20000));
  json after = a.c->request("fleet.sessions");
  json back = find_session(after, "bravo/" + local);
  ASSERT_FALSE(back.is_null());
  EXPECT_EQ(back["reachable"], true);
  EXPECT_EQ(a.c->request("session.get", {{"session", "bravo/" + local}})["id"], "bravo/" + local);
}

TEST_F(FleetE2E, OverTlsWithAccountsAMachineWithWrongCredentialsIsRefusedAndSeenByNobody) {
  NatsAccounts accounts{"default", {{"alpha", "alpha-pass"}, {"bravo", "bravo-pass"}}};
  NatsOptions no;
  no.accounts = accounts;
  no.tls = true;
  NatsServer nats(no);
  MachineOptions right{{nats.url()}, "alpha", "alpha-pass"};
  right.tls_ca = nats.ca_file();
  Machine& a = add("alpha", right);
  MachineOptions wrong{{nats.url()}, "bravo", "not-bravos-password"};
  wrong.tls_ca = nats.ca_file();
  wrong.required = false;  // refused by NATS: the plugin may fail to start, the daemon must not
  Machine& b = add("bravo", wrong);
  ASSERT_TRUE(wait_state(a, {"alpha"}, "up"));
  EXPECT_TRUE(eventually([&] { return b.d->log().find("Authorization Violation") != std::string::npos; }, 15000))
      << "the refusal is logged with NATS's reason: " << b.d->log();
  EXPECT_EQ(b.d->log().find("not-bravos-password"), std::string::npos) << "the password is never logged";
  json list = a.c->request("fleet.machines");
  for (auto& m : list["machines"]) EXPECT_NE(m["name"], "bravo") << list.dump();
  try {
    a.c->request("session.list", {{"host", "bravo"}});
    FAIL();
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "unknown_host");
  }
}

TEST_F(FleetE2E, AMachineBehindALeafNodeIsReachableThoughItOpensNoPort) {
  NatsLeafPair pair;
  Machine& hub = add("hub-side", {{pair.hub.url()}});
  Machine& home = add("home", {{pair.leaf.url()}});
  ASSERT_TRUE(wait_state(hub, {"hub-side", "home"}, "up"));
  ASSERT_TRUE(wait_state(home, {"hub-side", "home"}, "up"));
  json s = hub.c->request("session.new", {{"host", "home"}, {"cwd", home.d->project()}, {"prompt", "echo: through the leaf"}});
  EventLog log(*hub.c, s["id"]);
  ASSERT_TRUE(log.wait_kind("result", 90000));
  EXPECT_EQ(log.streamed_text(), "through the leaf");
}

// The page of charlie drives a session of bravo: listed with its machine, started from the
// page's form on bravo in bravo's folder, its approval answered with a tap on charlie's page.
TEST_F(FleetE2E, CharliesPageStartsASessionOnBravoAndApprovesItsToolWithATap) {
  std::string node = getenv("CCMUX_TEST_NODE") ? getenv("CCMUX_TEST_NODE") : source_dir() + "/.test-tools/node/bin/node";
  std::string pw = getenv("PLAYWRIGHT_CORE") ? getenv("PLAYWRIGHT_CORE") : source_dir() + "/.test-tools/node_modules/playwright-core";
  ASSERT_TRUE(fs::exists(pw + "/package.json")) << "playwright-core not found at " << pw << " (bash packaging/setup.sh test)";
  ASSERT_TRUE(fs::exists(node)) << "no Node at " << node;
  NatsServer nats;
  MachineOptions o{{nats.url()}};
  Machine& b = add("bravo", o);
  int port = free_tcp_port();
  MachineOptions with_page = o;
  with_page.more_yaml = "  - name: transport-ws\n    search_dir: " + build_dir() + "/plugins\n    required: true\n    port: " +
                           std::to_string(port) + "\n    static_root: " + source_dir() + "/plugins/transport-ws/web\n";
  Machine& c = add("charlie", with_page);
  ASSERT_TRUE(wait_state(c, {"bravo", "charlie"}, "up"));
  b.c->request("session.new", {{"cwd", b.d->project()}, {"prompt", "echo: made on bravo"}});
  std::string token = c.c->request("token.create", {{"name", "phone"}})["token"];
  std::string artifacts = build_dir() + "/tests/artifacts/fleet-page";
  fs::remove_all(artifacts);
  std::string out;
  int rc = run_command({node, source_dir() + "/tests/browser/fleet_page_test.mjs"}, &out,
                       {"HOME=" + dir.path + "/browser-home", "PLAYWRIGHT_CORE=" + pw,
                        "CCMUX_URL=http://127.0.0.1:" + std::to_string(port) + "/", "CCMUX_TOKEN=" + token, "REMOTE=bravo",
                        "REMOTE_PROJECT=" + b.d->project(), "ARTIFACTS=" + artifacts});
  std::cout << out << "screenshots: " << artifacts << "\n";
  ASSERT_EQ(rc, 0) << out;
  ASSERT_NE(out.find("FLEET PAGE TEST PASSED bravo/s-"), std::string::npos) << out;
  EXPECT_EQ(read_file(b.d->project() + "/from-charlie.txt"), "approved-on-charlies-page\n") << "the tool ran on bravo";
  EXPECT_FALSE(fs::exists(c.d->project() + "/from-charlie.txt"));
  // bravo recorded who answered and through which machine.
  json audit = b.c->request("approvals.list", {{"all", true}});
  ASSERT_FALSE(audit["approvals"].empty());
  std::string by = audit["approvals"][0]["decided_by"];
  EXPECT_NE(by.find("fleet:charlie/"), std::string::npos) << by;
  EXPECT_NE(by.find("phone"), std::string::npos) << "the token's name travels with the answer: " << by;
}
