#include "e2e.h"

using namespace ccmux;
using namespace ccmux::test;

TEST_F(E2E, TextTurnStreamsPartialDeltas) {
  auto c = daemon->connect();
  std::string id = new_session(*c, "echo: hello streaming world from the fake api");
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_GE(log.of_kind("stream_event").size(), 5u);
  EXPECT_EQ(log.streamed_text(), "hello streaming world from the fake api");
  auto result = log.of_kind("result")[0]["payload"];
  EXPECT_FALSE(result["is_error"].get<bool>());
  EXPECT_EQ(result["result"], "hello streaming world from the fake api");
  // Every event numbered 1..N with no gap; claude's own frames are kept with their type.
  uint64_t expect = 1;
  for (auto& e : log.events()) EXPECT_EQ(e["seq"].get<uint64_t>(), expect++);
  EXPECT_FALSE(log.of_kind("system").empty());
  EXPECT_FALSE(log.of_kind("assistant").empty());
  auto info = c->request("session.get", {{"session", id}});
  EXPECT_EQ(info["state"], "idle");
  EXPECT_EQ(info["turns"], 1);
  EXPECT_GT(info["cost_usd"].get<double>(), 0.0);
  EXPECT_EQ(result["session_id"], info["claude_session_id"]);
}

TEST_F(E2E, TwoClientsSeeIdenticalEventSequences) {
  auto a = daemon->connect();
  std::string id = new_session(*a, "deltas: 40");
  EventLog live(*a, id);
  ASSERT_TRUE(live.wait_kind("result"));
  auto b = daemon->connect();
  EventLog replay(*b, id);
  ASSERT_TRUE(replay.wait_for([&](const json& e) { return e["seq"] == live.events().back()["seq"]; }, 10000));
  ASSERT_EQ(live.events().size(), replay.events().size());
  for (size_t i = 0; i < live.events().size(); ++i) {
    EXPECT_EQ(live.events()[i]["seq"], replay.events()[i]["seq"]);
    EXPECT_EQ(live.events()[i]["kind"], replay.events()[i]["kind"]);
    EXPECT_EQ(live.events()[i]["payload"], replay.events()[i]["payload"]);
  }
}

TEST_F(E2E, ClaudeLinesAreForwardedByteForByte) {
  auto c = daemon->connect();
  std::string id = new_session(*c, "echo: bytes");
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  // The raw event message embeds claude's line unchanged: its key order is claude's
  // (result frames start with keys other than "type"), which re-serialising would sort.
  auto c2 = daemon->connect();
  c2->request("subscribe", {{"session", id}, {"from_seq", 1}});
  bool found = false;
  for (int i = 0; i < 500 && !found; ++i) {
    auto raw = c2->next_raw(5000);
    ASSERT_TRUE(raw);
    auto pos = raw->find("\"kind\":\"result\",\"payload\":");
    if (pos == std::string::npos) continue;
    std::string payload = raw->substr(pos + 26, raw->size() - pos - 27);
    ASSERT_FALSE(json::parse(payload, nullptr, false).is_discarded()) << payload;
    EXPECT_NE(payload, json::parse(payload).dump()) << "key order was changed: the line was re-serialised";
    found = true;
  }
  EXPECT_TRUE(found);
}

TEST_F(E2E, CliRunStreamsTextAndExitsZeroAttachReplays) {
  std::string out;
  std::string sock = "--socket=" + daemon->socket();
  ASSERT_EQ(run_command({ccmux_bin(), sock, "run", "--cwd", daemon->project(), "echo: via the cli"}, &out), 0) << out;
  EXPECT_NE(out.find("via the cli"), std::string::npos) << out;
  auto c = daemon->connect();
  auto sessions = c->request("session.list")["sessions"];
  ASSERT_EQ(sessions.size(), 1u);
  std::string id = sessions[0]["id"];
  ASSERT_EQ(run_command({ccmux_bin(), sock, "attach", id, "--json", "--no-follow"}, &out), 0) << out;
  size_t lines = 0, pos = 0;
  while ((pos = out.find('\n', pos)) != std::string::npos) ++lines, ++pos;
  EXPECT_EQ(lines, sessions[0]["last_seq"].get<size_t>());
  ASSERT_EQ(run_command({ccmux_bin(), sock, "ls"}, &out), 0);
  EXPECT_NE(out.find(id), std::string::npos);
  ASSERT_EQ(run_command({ccmux_bin(), sock, "status"}, &out), 0);
  EXPECT_NE(out.find("sessions   1: 1 idle"), std::string::npos) << out;
  EXPECT_NE(out.find("claude     1 live of max_live "), std::string::npos) << out;
  EXPECT_NE(out.find(", 1 turns, "), std::string::npos) << out;
  ASSERT_EQ(run_command({ccmux_bin(), sock, "status", "--json"}, &out), 0);
  json st = json::parse(out);
  EXPECT_EQ(st["live_processes"], 1);
  EXPECT_EQ(st["turns"], 1);
}

TEST_F(E2E, CliExitCodes) {
  std::string out;
  EXPECT_EQ(run_command({ccmux_bin(), "--socket=" + dir.path + "/nothing.sock", "ls"}, &out), 2) << out;
  EXPECT_NE(out.find("cannot reach ccmuxd"), std::string::npos);
  EXPECT_EQ(run_command({ccmux_bin(), "--socket=" + daemon->socket(), "send", "s-missing", "hi"}, &out), 1);
  EXPECT_NE(out.find("not_found"), std::string::npos);
}

TEST_F(E2E, PromptWithAnImageBlockReachesTheApi) {
  // A 1x1 PNG, as a phone would attach a screenshot.
  const std::string png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  json content = json::array({{{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", png}}}},
                              {{"type", "text"}, {"text", "echo: saw the picture"}}});
  auto c = daemon->connect();
  std::string id = c->request("session.new", {{"cwd", daemon->project()}, {"prompt", content}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  EXPECT_EQ(log.of_kind("result")[0]["payload"]["result"], "saw the picture");
  EXPECT_EQ(log.of_kind("prompt_queued")[0]["payload"]["content"][0]["type"], "image");
  // What claude sent to the API carried the image block.
  EXPECT_NE(read_file(dir.path + "/api-requests.ndjson").find(png), std::string::npos);
}

TEST_F(E2E, AccountingShowsEachClaudeProcessMemoryAndTheTotals) {
  auto c = daemon->connect();
  std::string id = new_session(*c, "echo: counted");
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result"));
  json s = c->request("session.get", {{"session", id}});
  ASSERT_GT(s["pid"].get<int>(), 0);
  EXPECT_GT(s["rss_bytes"].get<int64_t>(), 10 << 20) << "a live claude holds well over 10 MB";
  EXPECT_EQ(s["turns"], 1);
  json st = c->request("status");
  EXPECT_GE(st["claude_rss_bytes"].get<int64_t>(), s["rss_bytes"].get<int64_t>() / 2);
  EXPECT_GT(st["daemon_rss_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(st["turns"], 1);
  std::string ls;
  run_command({ccmux_bin(), "--socket", daemon->socket(), "ls"}, &ls);
  EXPECT_NE(ls.find("MEM"), std::string::npos) << ls;
  EXPECT_NE(ls.find("M "), std::string::npos) << ls;  // e.g. "287M"
  c->request("session.stop", {{"session", id}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "session_exited" || e["kind"] == "session_failed"; }));
  EXPECT_EQ(c->request("session.get", {{"session", id}})["rss_bytes"], 0);
}
