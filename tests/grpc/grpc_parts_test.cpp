// transport-grpc's plain parts, without a server: the JSON <-> proto mapping (hostile
// input included), the config's refusals, peer addresses, certificate fingerprints, and
// the stream outbox's ordering, flow control and single Finish.
#include "grpc_config.h"
#include "outbox.h"
#include "peer_auth.h"
#include "proto_map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace ccmux::grpcx;

namespace {

std::string event_msg(const std::string& payload, const std::string& kind = "assistant") {
  return R"({"type":"event","subscription":7,"session":"s-1a2b3c4d","seq":42,"ts":1795449000123,"kind":")" + kind +
         R"(","payload":)" + payload + "}";
}

}  // namespace

TEST(GrpcMap, AnEventKeepsItsPayloadByteForByte) {
  std::string payload = R"({"b": 1,  "a":"x\u00e9\"y",  "n":[1.50, 2e3]})";  // spacing, escapes, order as stored
  v1::Event e;
  ASSERT_TRUE(parse_event(event_msg(payload), &e));
  EXPECT_EQ(e.payload(), payload);
  EXPECT_EQ(e.session(), "s-1a2b3c4d");
  EXPECT_EQ(e.seq(), 42u);
  EXPECT_EQ(e.ts_ms(), 1795449000123);
  EXPECT_EQ(e.kind(), "assistant");
  EXPECT_EQ(e.subscription(), 7u);
}

TEST(GrpcMap, APayloadDeeperThanAnyParserLimitOrHoldingThePayloadKeyIsCutWhole) {
  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  v1::Event e;
  ASSERT_TRUE(parse_event(event_msg(deep), &e));
  EXPECT_EQ(e.payload(), deep);
  std::string tricky = R"({"text":"a,\"payload\":{} and ,\"payload\":","payload":{"x":1}})";
  ASSERT_TRUE(parse_event(event_msg(tricky), &e));
  EXPECT_EQ(e.payload(), tricky);
  ASSERT_TRUE(parse_event(event_msg("\"just a string\""), &e));
  EXPECT_EQ(e.payload(), "\"just a string\"");
}

TEST(GrpcMap, WhatIsNotAnEventIsRefused) {
  v1::Event e;
  for (std::string bad : {std::string(R"({"type":"response","id":1,"result":{}})"), std::string("{"), std::string(""),
                          std::string(R"({"type":"event","seq":"x","payload":{}})"),
                          std::string(R"({"type":"event","seq":1,"payload":})"), std::string(R"({"type":"event","seq":1})"),
                          std::string(R"({"type":"event","seq":-1,"payload":{}})")})
    EXPECT_FALSE(parse_event(bad, &e)) << bad;
}

TEST(GrpcMap, SessionAndApprovalObjectsComeTypedAndWhole) {
  json s = {{"id", "s-1"}, {"state", "idle"}, {"last_seq", 12}, {"cost_usd", 0.25}, {"turns", 3}, {"future_field", {1, 2}}};
  v1::Session out;
  to_proto(s, &out);
  EXPECT_EQ(out.id(), "s-1");
  EXPECT_EQ(out.last_seq(), 12u);
  EXPECT_DOUBLE_EQ(out.cost_usd(), 0.25);
  EXPECT_EQ(json::parse(out.json()), s);  // a field the proto does not name is still there
  // Wrong types from a future daemon do not throw: the typed field stays empty.
  to_proto(json{{"id", 5}, {"turns", "many"}}, &out);
  EXPECT_EQ(out.id(), "");
  EXPECT_EQ(out.turns(), 0);
  json a = {{"id", "a-1"}, {"kind", "tool"}, {"tool", "Bash"}, {"input", {{"command", "ls"}}}};
  v1::Approval ap;
  to_proto(a, &ap);
  EXPECT_EQ(json::parse(ap.input()), a["input"]);
  EXPECT_EQ(ap.questions(), "");
}

TEST(GrpcMap, WorktreeFieldsOfSessionsAndNewAndListAreMapped) {
  v1::Session out;
  to_proto(json{{"id", "s-1"}, {"repo", "/src/app"}, {"worktree", "/src/.ccmux-worktrees/app/x"}, {"worktree_name", "x"},
                {"branch", "ccmux/x"}},
           &out);
  EXPECT_EQ(out.repo(), "/src/app");
  EXPECT_EQ(out.worktree(), "/src/.ccmux-worktrees/app/x");
  EXPECT_EQ(out.worktree_name(), "x");
  EXPECT_EQ(out.branch(), "ccmux/x");
  v1::NewSessionRequest req;
  req.set_cwd("/src/app");
  EXPECT_FALSE(new_session_params(req).contains("worktree")) << "no worktree unless asked";
  req.set_worktree("mr-12");
  req.set_branch("feature");
  req.set_from_ref("v1.0");
  EXPECT_EQ(new_session_params(req), (json{{"cwd", "/src/app"}, {"worktree", "mr-12"}, {"branch", "feature"}, {"from", "v1.0"}}));
  v1::Worktree w;
  to_proto(json{{"name", "x"}, {"dirty", true}, {"unpushed", 2}, {"session", "s-1"}, {"managed", "yes"}}, &w);
  EXPECT_EQ(w.name(), "x");
  EXPECT_TRUE(w.dirty());
  EXPECT_EQ(w.unpushed(), 2);
  EXPECT_EQ(w.session(), "s-1");
  EXPECT_FALSE(w.managed()) << "a wrong type leaves the field empty";
  EXPECT_EQ(status_code_for("worktree_in_use"), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status_code_for("git_error"), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcMap, PromptsBecomeTextOrContentBlocks) {
  v1::Prompt p;
  p.set_text("hello");
  EXPECT_EQ(prompt_json(p), "hello");
  auto* img = p.add_images();
  img->set_media_type("image/png");
  img->set_data(std::string("\x89PNG\0\x01", 6));
  json blocks = prompt_json(p);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0]["source"]["data"], "iVBORwAB");
  EXPECT_EQ(blocks[1]["text"], "hello");
  img->set_media_type("text/html");
  EXPECT_THROW(prompt_json(p), BadRequest);
  v1::Prompt raw;
  raw.set_content_json(R"([{"type":"text","text":"x"}])");
  EXPECT_EQ(prompt_json(raw)[0]["text"], "x");
  raw.set_content_json(R"({"type":"text"})");
  EXPECT_THROW(prompt_json(raw), BadRequest);
}

TEST(GrpcMap, ClientJsonIsBoundedAndCheckedBeforeTheDaemonSeesIt) {
  EXPECT_THROW(json_bytes(std::string(100000, '['), "params_json"), BadRequest);  // a depth bomb, not a crash
  // Under the daemon's 256 with room for the request around it: the daemon answers a too-deep
  // message with an error that has no id, which would leave the call waiting.
  std::string deep = std::string(250, '[') + std::string(250, ']');
  EXPECT_THROW(json_bytes(deep, "params_json"), BadRequest);
  std::string fine = std::string(200, '[') + std::string(200, ']');
  EXPECT_EQ(json_bytes(fine, "params_json").size(), 1u);
  EXPECT_THROW(json_bytes("{\"a\":", "params_json"), BadRequest);
  EXPECT_EQ(json_bytes("", "params_json"), json::object());
  v1::AnswerRequest r;
  r.set_id("a-1");
  r.set_decision("allow");
  r.set_updated_input("[1");
  EXPECT_THROW(answer_params(r), BadRequest);
  r.set_updated_input(R"({"command":"ls"})");
  (*r.mutable_answers())["Which?"] = "blue";
  json p = answer_params(r);
  EXPECT_EQ(p["updated_input"]["command"], "ls");
  EXPECT_EQ(p["answers"]["Which?"], "blue");
}

TEST(GrpcMap, ErrorCodesMapToGrpcStatuses) {
  EXPECT_EQ(status_code_for("not_found"), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status_code_for("bad_params"), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status_code_for("forbidden"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status_code_for("unknown_method"), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(status_code_for("message_too_large"), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status_code_for("something new"), grpc::StatusCode::INTERNAL);
}

TEST(GrpcConfig, PlainTextOffLoopbackAndTlsWithoutItsPartsAreRefused) {
  auto cfg = [](const std::string& extra) {
    return R"({"listen":"0.0.0.0","port":8421,"plaintext":false,"tokens":true,"auth_max_failures":5,"auth_window_s":60,)"
           R"("send_queue_bytes":1048576,"max_message_bytes":16777216)" +
           extra + "}";
  };
  try {
    parse_config(R"({"listen":"10.0.0.5","port":1,"plaintext":true,"tokens":true,"auth_max_failures":5,"auth_window_s":60,"send_queue_bytes":4096,"max_message_bytes":1024})");
    FAIL() << "plain text on 10.0.0.5 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("loopback address only"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_config(cfg("")), std::runtime_error);  // TLS without a certificate
  try {
    parse_config(cfg(R"(,"tls_cert":"s.crt","tls_key":"s.key")"));
    FAIL() << "no client_ca off loopback accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("client_ca is required"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(parse_config(cfg(R"(,"tls_cert":"s.crt","tls_key":"s.key","client_ca":"ca.crt")")));
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.8.9.10"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("[::1]"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("::"));
  EXPECT_FALSE(is_loopback_address("128.0.0.1"));
}

TEST(GrpcAuth, PeerAddressesLoseTheirPortAndBrackets) {
  EXPECT_EQ(peer_address("ipv4:10.0.0.5:4711"), "10.0.0.5");
  EXPECT_EQ(peer_address("ipv6:[::1]:4711"), "::1");
  EXPECT_EQ(peer_address("ipv6:%5B::1%5D:4711"), "::1");
  EXPECT_EQ(peer_address("unix:/run/x.sock"), "unix:/run/x.sock");
}

TEST(GrpcAuth, AFingerprintNeedsACertificate) {
  bool expired = true;
  EXPECT_FALSE(certificate_fingerprint("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", &expired));
  EXPECT_FALSE(certificate_fingerprint("", &expired));
}

namespace {

// A fake stream: writes complete when the test says so; records what was written and finished.
struct FakeTarget : Outbox<v1::Event>::Target {
  std::vector<uint64_t> written;
  std::vector<grpc::StatusCode> finished;
  std::vector<bool> ready_calls;
  std::vector<bool> more;  // per write: another message was queued behind it
  int in_flight = 0;
  int deferred = 0;
  void do_write(const v1::Event* m, bool more_queued) override {
    written.push_back(m->seq());
    more.push_back(more_queued);
    ++in_flight;
  }
  void do_finish(const grpc::Status& s) override { finished.push_back(s.error_code()); }
  void set_ready(bool r) override { ready_calls.push_back(r); }
  void finish_deferred() override { ++deferred; }
};

v1::Event ev(uint64_t seq, size_t bytes = 10) {
  v1::Event e;
  e.set_seq(seq);
  e.set_payload(std::string(bytes, 'x'));
  return e;
}

}  // namespace

TEST(GrpcOutbox, OneWriteAtATimeInOrderAndPausedPastHalfFull) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1000);
  box.push(ev(1, 100));
  box.push(ev(2, 300));
  box.push(ev(3, 300));  // ~700 bytes queued: past half
  EXPECT_EQ(t.written, std::vector<uint64_t>{1});
  ASSERT_EQ(t.ready_calls, std::vector<bool>{false});
  box.write_done(true);
  box.write_done(true);
  EXPECT_EQ(t.written, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(t.ready_calls, std::vector<bool>{false});  // ~300 bytes left: still over a quarter
  box.write_done(true);
  EXPECT_EQ(t.ready_calls, (std::vector<bool>{false, true}));  // under a quarter: resumed
  EXPECT_EQ(box.queued_bytes(), 0u);
  EXPECT_TRUE(t.finished.empty());
}

// A write with more queued behind it may be held by gRPC (buffer_hint) and sent with the next
// in one syscall; the last of a burst must go out at once, or it would wait for the next event.
TEST(GrpcOutbox, WritesWithMoreQueuedMayBeBufferedAndTheLastOfABurstIsFlushed) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1 << 20);
  box.push(ev(1));  // alone: flushed
  box.push(ev(2));
  box.push(ev(3));
  box.write_done(true);  // 2 starts with 3 behind it
  box.write_done(true);  // 3 is the last
  box.write_done(true);
  box.push(ev(4));
  EXPECT_EQ(t.written, (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(t.more, (std::vector<bool>{false, true, false, false}));
}

TEST(GrpcOutbox, FinishWaitsForTheWriteInFlightAndHappensOnce) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1 << 20);
  box.push(ev(1));
  box.push(ev(2));
  box.end(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "revoked"));
  EXPECT_TRUE(t.finished.empty());  // write 1 still in flight
  EXPECT_FALSE(box.push(ev(3)));
  box.end(grpc::Status::OK);  // a second end changes nothing
  box.write_done(true);
  EXPECT_EQ(t.written, std::vector<uint64_t>{1});  // 2 dropped, nothing after the end
  EXPECT_EQ(t.finished, std::vector<grpc::StatusCode>{grpc::StatusCode::UNAUTHENTICATED});
}

TEST(GrpcOutbox, AFailedWriteEndsTheStreamAsCancelled) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1 << 20);
  box.push(ev(1));
  box.push(ev(2));
  box.write_done(false);
  EXPECT_EQ(t.finished, std::vector<grpc::StatusCode>{grpc::StatusCode::CANCELLED});
  EXPECT_EQ(t.written, std::vector<uint64_t>{1});
}

TEST(GrpcOutbox, AClientThatNeverReadsIsEndedPastTheCapNotGrownWithoutBound) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1000, 10000);
  size_t pushed = 0;
  while (box.push(ev(pushed + 1, 1000))) ASSERT_LT(++pushed, 100u);
  EXPECT_EQ(pushed, 9u);              // 9 x ~1 KB fit under 10 KB, the 10th does not
  EXPECT_TRUE(t.finished.empty());    // write 1 is still in flight
  box.write_done(true);
  EXPECT_EQ(t.finished, std::vector<grpc::StatusCode>{grpc::StatusCode::RESOURCE_EXHAUSTED});
  EXPECT_EQ(box.queued_bytes(), 0u);
}

TEST(GrpcOutbox, ManyThreadsPushingAndEndingFinishExactlyOnce) {
  for (int round = 0; round < 200; ++round) {
    struct CountingTarget : Outbox<v1::Event>::Target {
      std::atomic<int> finishes{0};
      Outbox<v1::Event>* box = nullptr;
      void do_write(const v1::Event*, bool) override { box->write_done(true); }  // completes inline, as gRPC may
      void do_finish(const grpc::Status&) override { ++finishes; }
      void set_ready(bool) override {}
    } t;
    Outbox<v1::Event> box(t, 1 << 20);
    t.box = &box;
    std::vector<std::thread> th;
    for (int i = 0; i < 4; ++i)
      th.emplace_back([&, i] {
        for (int k = 0; k < 50; ++k) box.push(ev(static_cast<uint64_t>(i * 100 + k)));
      });
    th.emplace_back([&] { box.end(grpc::Status::OK); });
    for (auto& x : th) x.join();
    EXPECT_EQ(t.finishes.load(), 1) << "round " << round;
  }
}

TEST(GrpcOutbox, AHalfClosedStreamWritesWhatItOwesThenFinishes) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1 << 20);
  box.push(ev(1));
  box.push(ev(2));
  box.push(ev(3));
  box.end_when_drained(grpc::Status::OK);
  EXPECT_FALSE(box.push(ev(4)));  // nothing new once the end is decided
  box.write_done(true);
  box.write_done(true);
  EXPECT_TRUE(t.finished.empty());
  box.write_done(true);
  EXPECT_EQ(t.written, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(t.finished, std::vector<grpc::StatusCode>{grpc::StatusCode::OK});
}

TEST(GrpcOutbox, AnEndDuringADrainDropsTheRestAndSaysWhy) {
  FakeTarget t;
  Outbox<v1::Event> box(t, 1 << 20);
  box.push(ev(1));
  box.push(ev(2));
  box.end_when_drained(grpc::Status::OK);
  box.end(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "revoked"));
  EXPECT_EQ(box.queued_bytes(), ev(1).ByteSizeLong());  // only the write in flight is kept
  box.write_done(true);
  EXPECT_EQ(t.written, std::vector<uint64_t>{1});
  EXPECT_EQ(t.finished, std::vector<grpc::StatusCode>{grpc::StatusCode::UNAUTHENTICATED});
}

TEST(GrpcOutbox, AnEndStuckBehindAWriteIsReportedOnceSoTheCallCanBeCancelled) {
  FakeTarget idle;
  Outbox<v1::Event> quiet(idle, 1 << 20);
  quiet.end(grpc::Status::OK);  // nothing in flight: finished at once, nothing to report
  EXPECT_EQ(idle.finished.size(), 1u);
  EXPECT_EQ(idle.deferred, 0);
  FakeTarget t;
  Outbox<v1::Event> box(t, 1000, 10000);
  size_t pushed = 0;
  while (box.push(ev(pushed + 1, 1000))) ASSERT_LT(++pushed, 100u);
  EXPECT_EQ(t.deferred, 1);  // the cap's end waits for write 1, which a non-reader never takes
  EXPECT_EQ(box.queued_bytes(), ev(1, 1000).ByteSizeLong());  // the rest is freed at once
  box.end(grpc::Status::OK);
  EXPECT_EQ(t.deferred, 1);
  EXPECT_FALSE(box.finished());
  box.write_done(false);  // what a cancel does to the write in flight
  EXPECT_TRUE(box.finished());
  EXPECT_EQ(t.finished, std::vector<grpc::StatusCode>{grpc::StatusCode::RESOURCE_EXHAUSTED});
}

TEST(GrpcOutbox, PauseAndResumeReachTheDaemonInTheOrderOfTheStateTheyReport) {
  // One thread's push crosses half full and is about to say "pause" when it is preempted;
  // meanwhile another thread's writes drain the queue and say "resume". The pause must not
  // land last: the daemon would hold events back from a stream that is no longer paused.
  struct SlowPause : Outbox<v1::Event>::Target {
    std::mutex mu;
    std::vector<bool> calls;
    std::atomic<bool> pausing{false}, drained{false};
    void do_write(const v1::Event*, bool) override {}
    void do_finish(const grpc::Status&) override {}
    void set_ready(bool ready) override {
      if (!ready && !pausing.exchange(true)) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
        while (!drained && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::lock_guard lock(mu);
      calls.push_back(ready);
    }
  } t;
  Outbox<v1::Event> box(t, 1000);
  box.push(ev(1, 100));  // in flight
  std::thread pusher([&] { box.push(ev(2, 600)); });  // past half: pauses (slowly)
  while (!t.pausing) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  box.write_done(true);  // 1 done, 2 in flight
  box.write_done(true);  // 2 done: empty, so resume
  t.drained = true;
  pusher.join();
  std::lock_guard lock(t.mu);
  ASSERT_FALSE(t.calls.empty());
  EXPECT_TRUE(t.calls.back()) << "the last word to the daemon was 'pause' for an empty queue";
}

TEST(GrpcOutbox, StreamsThatDoNotReadShareOneBoundAndAReaderUnderItsOwnQueueIsSpared) {
  QueueBudget budget(20000);
  FakeTarget a, b, c;
  Outbox<v1::Event> hog(a, 2000, size_t{256} << 20, &budget), slow(b, 2000, size_t{256} << 20, &budget),
      fine(c, 2000, size_t{256} << 20, &budget);
  size_t pushed = 0;
  while (hog.push(ev(pushed + 1, 1000))) ASSERT_LT(++pushed, 100u);
  EXPECT_LE(pushed, 20u);  // stopped by the shared bound
  EXPECT_EQ(a.finished.size(), 0u);  // its write 1 is in flight
  EXPECT_EQ(a.deferred, 1);
  EXPECT_LE(budget.used.load(), 2000u);  // the hog's queue was freed but for its write in flight
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(slow.push(ev(i + 1, 1000))) << i;  // the room the hog left
  ASSERT_TRUE(fine.push(ev(1, 500)));  // the bound is full, but this stream is under its own queue
  size_t more = 0;
  while (slow.push(ev(100 + more, 1000))) ASSERT_LT(++more, 100u);
  EXPECT_EQ(b.deferred, 1);
  EXPECT_TRUE(fine.push(ev(2, 500)));
  hog.write_done(false);
  slow.write_done(true);
  fine.write_done(true);
  fine.write_done(true);
  EXPECT_EQ(budget.used.load(), 0u);  // everything written or dropped gives its bytes back
}
