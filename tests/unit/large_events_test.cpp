// Issue 10 item 10: an event over claude.max_event_bytes is stored and sent cut (strings
// shortened, a ccmux_truncated member), its whole payload kept in a file that event.payload
// serves; routing still reads the whole line, and a replay from seq 1 always works.
#include "auth/tokens.h"
#include "harness.h"

#include <gtest/gtest.h>

#include <mbedtls/base64.h>

#include <chrono>
#include <filesystem>

using namespace ccmux;
using namespace ccmux::test;

namespace {
std::string sha256_of(const std::string& data) { return sha256_hex(data); }

std::string unbase64(const std::string& b64) {
  size_t n = 0;
  std::string out(b64.size() * 3 / 4 + 3, '\0');
  EXPECT_EQ(mbedtls_base64_decode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n,
                                  reinterpret_cast<const unsigned char*>(b64.data()), b64.size()),
            0);
  out.resize(n);
  return out;
}

// The whole payload of a cut event, read through event.payload in 256 KiB pieces.
std::string fetch_whole(Client& c, const std::string& session, uint64_t seq) {
  std::string whole;
  for (;;) {
    json r = c.request("event.payload", {{"session", session}, {"seq", seq}, {"offset", whole.size()}, {"length", 256 << 10}});
    std::string piece = unbase64(r["data"]);
    whole += piece;
    if (piece.empty() || whole.size() >= r["bytes"].get<size_t>()) return whole;
  }
}

json first_of(const EventLog& log, const std::string& kind) {
  auto v = log.of_kind(kind);
  return v.empty() ? json() : v[0];
}
}  // namespace

TEST(LargeEvents, AToolCallOverTheLimitIsStoredCutKeptWholeAndStillBecomesAnApproval) {
  DaemonOptions o;
  o.claude_keys = {"max_event_bytes: 65536"};
  FakeDaemon f(o);
  auto c = f.d->connect();
  const size_t n = 300000;  // "x" + 300000 "é": a line of ~1.8 MB (é is \u00e9 in it)
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "bigask " + std::to_string(n)}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("approval_requested", 20000)) << f.d->log();

  // Stored and sent: the same kind and shape, long strings cut at a UTF-8 boundary, and what was done.
  json req = first_of(log, "control_request");
  ASSERT_TRUE(req.is_object());
  EXPECT_LE(req.dump().size(), 65536u + 512);
  json cut = req["payload"]["ccmux_truncated"];
  ASSERT_TRUE(cut.is_object()) << req.dump().substr(0, 2000);
  EXPECT_EQ(req["payload"]["request"]["tool_name"], "Write");
  EXPECT_EQ(req["payload"]["request"]["input"]["file_path"], f.d->project() + "/big.txt");
  std::string head = req["payload"]["request"]["input"]["content"];
  EXPECT_EQ(head, "x" + [] { std::string s; for (int i = 0; i < 2047; ++i) s += "\u00e9"; return s; }())
      << "cut at 4096 bytes would split an é: 4095 expected, got " << head.size();
  EXPECT_EQ(cut["limit"], 65536);
  EXPECT_EQ(cut["strings_cut_at"], 4096);
  ASSERT_TRUE(cut.contains("file")) << cut;
  EXPECT_TRUE(std::filesystem::exists(cut["file"].get<std::string>()));

  // The whole line, from the file, through the protocol: the bytes claude wrote.
  std::string whole = fetch_whole(*c, id, req["seq"]);
  EXPECT_EQ(whole.size(), cut["bytes"].get<size_t>());
  EXPECT_EQ(sha256_of(whole), cut["sha256"]);
  json line = json::parse(whole);
  EXPECT_EQ(line["request"]["input"]["content"].get<std::string>().size(), 1 + 2 * n);
  std::string printed;  // and through the CLI, which reads it in 4 MiB pieces
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + f.d->socket(), "payload", id, req["seq"].dump()}, &printed), 0) << printed.substr(0, 500);
  EXPECT_EQ(sha256_of(printed), cut["sha256"]);

  // Routing saw the whole line: an approval whose input is whole, and claude gets it back whole.
  json ev = first_of(log, "approval_requested");
  EXPECT_TRUE(ev["payload"].contains("ccmux_truncated")) << "the approval event is over the limit too";
  EXPECT_EQ(ev["payload"]["tool"], "Write");
  json pending = c->request("approvals.list")["approvals"];
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0]["id"], ev["payload"]["id"]);
  EXPECT_EQ(pending[0]["input"]["content"].get<std::string>().size(), 1 + 2 * n);
  c->request("approval.answer", {{"id", pending[0]["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "result" && e["payload"].contains("answered"); }, 20000));
  EXPECT_EQ(log.of_kind("result").back()["payload"]["updated_content_len"], 1 + n);

  // A replay from seq 1 works, and shows the cut event.
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + f.d->socket(), "attach", id, "--from", "1", "--json", "--no-follow"},
                        &out),
            0)
      << out.substr(0, 2000);
  EXPECT_NE(out.find("\"ccmux_truncated\""), std::string::npos);
  // An event under the limit is not in a file and cannot be fetched that way.
  try {
    c->request("event.payload", {{"session", id}, {"seq", 1}});
    ADD_FAILURE() << "event 1 is stored whole";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "not_found");
  }
  c->request("session.send", {{"session", id}, {"prompt", "after"}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "result" && e["payload"]["result"] == "after"; }, 20000));
}

TEST(LargeEvents, ASixtyMegabyteWriteIsAnApprovalAndTheSessionReplaysFromSeqOne) {
  FakeDaemon f;  // the default limit
  auto c = f.d->connect();
  const size_t n = 10u << 20;  // a 20 MB file (é is two bytes) on a 60 MB line (é is \\u00e9 there)
  auto t0 = std::chrono::steady_clock::now();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "bigask " + std::to_string(n)}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("approval_requested", 60000)) << f.d->log();
  json pending = c->request("approvals.list")["approvals"];
  ASSERT_EQ(pending.size(), 1u);
  c->request("approval.answer", {{"id", pending[0]["id"]}, {"decision", "allow"}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "result" && e["payload"].contains("answered"); }, 60000));
  EXPECT_EQ(log.of_kind("result").back()["payload"]["updated_content_len"], 1 + n);
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + f.d->socket(), "attach", id, "--from", "1", "--json", "--no-follow"},
                        &out),
            0);
  EXPECT_NE(out.find("\"ccmux_truncated\""), std::string::npos);
  std::cerr << "50 MB write, approval and replay: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms\n";
}

TEST(LargeEvents, AThreeHundredMegabyteLineIsCutAndTheSessionGoesOnAndReplays) {
  FakeDaemon f;
  auto c = f.d->connect();
  auto t0 = std::chrono::steady_clock::now();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "hugeline 314572800"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 120000)) << f.d->log();
  auto errs = log.of_kind("parse_error");
  ASSERT_FALSE(errs.empty());
  EXPECT_NE(errs[0]["payload"]["error"].get<std::string>().find("over 256 MiB"), std::string::npos) << errs[0];
  EXPECT_TRUE(errs[0]["payload"].contains("ccmux_truncated"));
  std::string out;
  ASSERT_EQ(run_command({ccmux_bin(), "--socket=" + f.d->socket(), "attach", id, "--from", "1", "--json", "--no-follow"},
                        &out),
            0);
  c->request("session.send", {{"session", id}, {"prompt", "after"}});
  ASSERT_TRUE(log.wait_for([](const json& e) { return e["kind"] == "result" && e["payload"]["result"] == "after"; }, 20000));
  std::string status = read_file("/proc/" + std::to_string(f.d->pid()) + "/status");
  size_t hwm = status.find("VmHWM:");
  std::cerr << "300 MB line, cut, replay: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms; daemon " << (hwm == std::string::npos ? "" : status.substr(hwm, status.find('\n', hwm) - hwm)) << "\n";
}

TEST(LargeEvents, SideFilesAreOwnerOnlyAndAFileThatCannotBeWrittenIsRecorded) {
  DaemonOptions o;
  o.claude_keys = {"max_event_bytes: 65536"};
  FakeDaemon f(o);
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "hugeline 200000"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000)) << f.d->log();
  json cut = first_of(log, "assistant")["payload"]["ccmux_truncated"];
  ASSERT_TRUE(cut.contains("file")) << cut;
  namespace fs = std::filesystem;
  fs::path file = cut["file"].get<std::string>();
  EXPECT_EQ(file.parent_path().parent_path(), fs::path(f.dir.path + "/state/large-events"));
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(file.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(file.parent_path().parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);

  // The next one cannot be written (root ignores modes: a file where the folder goes).
  fs::remove_all(f.dir.path + "/state/large-events");
  write_file(f.dir.path + "/state/large-events", "in the way\n");
  size_t results = log.of_kind("result").size();
  c->request("session.send", {{"session", id}, {"prompt", "hugeline 200000"}});
  ASSERT_TRUE(log.wait_for([&](const json&) { return log.of_kind("result").size() > results; }, 20000));
  json failed;
  for (auto& e : log.of_kind("assistant"))
    if (e["payload"].contains("ccmux_truncated")) failed = e;  // the last cut one
  json info = failed["payload"]["ccmux_truncated"];
  EXPECT_FALSE(info.contains("file")) << info;
  EXPECT_NE(info.value("file_error", "").find("large-events"), std::string::npos) << info;
  EXPECT_EQ(info["bytes"], 200000);
  try {
    c->request("event.payload", {{"session", id}, {"seq", failed["seq"]}});
    ADD_FAILURE() << "no file was written";
  } catch (const RequestFailed& e) {
    EXPECT_EQ(e.code, "not_found");
  }
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(LargeEvents, EventPayloadRefusesBadParametersAndOtherSessions) {
  DaemonOptions o;
  o.claude_keys = {"max_event_bytes: 65536"};
  FakeDaemon f(o);
  auto c = f.d->connect();
  std::string id = c->request("session.new", {{"cwd", f.d->project()}, {"prompt", "hugeline 100000"}})["id"];
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000)) << f.d->log();
  uint64_t seq = first_of(log, "assistant")["seq"];
  auto code_of = [&](const json& params) {
    try {
      c->request("event.payload", params);
      return std::string("ok");
    } catch (const RequestFailed& e) {
      return e.code;
    }
  };
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}}), "ok");
  EXPECT_EQ(code_of({{"session", id}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", "1"}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", 0}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", -3}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}, {"offset", -1}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}, {"offset", 1.5}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}, {"offset", "0"}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}, {"length", 0}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}, {"length", 5 << 20}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}, {"offset", 18446744073709551615ull}}), "bad_params");
  EXPECT_EQ(code_of({{"session", "s-00000000"}, {"seq", seq}}), "not_found");
  EXPECT_EQ(code_of({{"session", "../" + id}, {"seq", seq}}), "not_found");
  EXPECT_EQ(code_of({{"session", 5}, {"seq", seq}}), "bad_params");
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq + 1000}}), "not_found");
  // Past the end: nothing, and the size.
  json r = c->request("event.payload", {{"session", id}, {"seq", seq}, {"offset", int64_t{1} << 62}});
  EXPECT_EQ(r["data"], "");
  EXPECT_EQ(r["bytes"], 100000);
  // A symlink planted in its place is not followed.
  std::string file = first_of(log, "assistant")["payload"]["ccmux_truncated"]["file"];
  std::filesystem::remove(file);
  std::filesystem::create_symlink("/etc/passwd", file);
  EXPECT_EQ(code_of({{"session", id}, {"seq", seq}}), "not_found");
  EXPECT_EQ(c->request("ping")["pong"], true);
}

TEST(LargeEvents, AnEventStoredWholeBeforeTheCapIsSentCutInAReplay) {
  TempDir dir;
  DaemonOptions big;
  big.claude_path = fake_claude_path();
  big.claude_keys = {"max_event_bytes: 67108864"};
  std::string id;
  {
    Daemon d(dir.path, "http://127.0.0.1:9", big);
    auto c = d.connect();
    id = c->request("session.new", {{"cwd", d.project()}, {"prompt", "hugeline 1000000"}})["id"].get<std::string>();
    EventLog log(*c, id);
    ASSERT_TRUE(log.wait_kind("result", 20000)) << d.log();
    EXPECT_FALSE(first_of(log, "assistant")["payload"].contains("ccmux_truncated"));
    d.terminate();
  }
  DaemonOptions small = big;
  small.claude_keys = {"max_event_bytes: 65536"};
  Daemon d(dir.path, "http://127.0.0.1:9", small);
  auto c = d.connect();
  EventLog log(*c, id);
  ASSERT_TRUE(log.wait_kind("result", 20000)) << d.log();
  json a = first_of(log, "assistant");
  EXPECT_LE(a.dump().size(), 65536u + 512);
  json info = a["payload"]["ccmux_truncated"];
  EXPECT_EQ(info["bytes"], 1000000);
  EXPECT_FALSE(info.contains("file")) << "stored before the cap: no file, and not one now";
  EXPECT_EQ(a["payload"]["message"]["content"][0]["text"].get<std::string>().size(), 4096u);
}
