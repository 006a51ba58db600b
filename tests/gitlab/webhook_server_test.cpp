// The webhook server over real HTTP on 127.0.0.1: what it accepts and hands on, every
// refusal (401, 400, 404, 405, 411, 413, 503) and its log line, concurrency, and stop().
#include "gitlab_fake.h"
#include "webhook_server.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace ccmux::gitlab {
namespace {

using nlohmann::json;
using test::http_request;
using test::send_hook;
using Clock = std::chrono::steady_clock;

const std::string kSecret = "hook-secret-0123456789";

class WebhookTest : public ::testing::Test {
 protected:
  void start(WebhookConfig c = {}, WebhookServer::Handler h = nullptr) {
    c.port = 0;
    if (c.secret.empty()) c.secret = kSecret;
    if (!h)
      h = [this](WebhookDelivery&& d) {
        std::lock_guard lock(mu);
        got.push_back(std::move(d));
        cv.notify_all();
      };
    server = std::make_unique<WebhookServer>(c, h, [this](int level, const std::string& line) {
      std::lock_guard lock(mu);
      lines.emplace_back(level, line);
    });
    port = server->port();
  }
  bool wait_deliveries(size_t n, int ms = 5000) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return got.size() >= n; });
  }
  size_t delivered() {
    std::lock_guard lock(mu);
    return got.size();
  }
  // The log lines that contain `text`.
  std::vector<std::string> logged(const std::string& text) {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (auto& [level, l] : lines)
      if (l.find(text) != std::string::npos) out.push_back(l);
    return out;
  }
  std::string note_body() { return test::sample_mr_note_hook(1244, "@ccmux please fix").dump(); }
  // A handler that stays busy until `release` (or 10 s), counting the deliveries it entered.
  WebhookServer::Handler blocking_handler() {
    return [this](WebhookDelivery&&) {
      ++entered;
      auto deadline = Clock::now() + std::chrono::seconds(10);
      while (!release && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
  }
  bool wait_entered(int n) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (entered < n && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return entered >= n;
  }
  void TearDown() override {
    release = true;
    server.reset();  // before the members its threads use
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<WebhookDelivery> got;
  std::vector<std::pair<int, std::string>> lines;
  std::atomic<bool> release{false};
  std::atomic<int> entered{0};
  int port = 0;
  std::unique_ptr<WebhookServer> server;  // last: destroyed first
};

TEST_F(WebhookTest, ASignedNoteHookIsAnsweredAtOnceAndHandedOn) {
  start();
  EXPECT_GT(port, 0);
  std::string body = note_body();
  auto a = send_hook(port, kSecret, "Note Hook", body, "9f3c2b1a-uuid");
  EXPECT_EQ(a.status, 202);
  EXPECT_EQ(a.header("content-type"), "application/json");
  ASSERT_TRUE(wait_deliveries(1));
  std::lock_guard lock(mu);
  EXPECT_EQ(got[0].event, "Note Hook");
  EXPECT_EQ(got[0].event_uuid, "9f3c2b1a-uuid");
  EXPECT_EQ(got[0].body, body);
  EXPECT_EQ(got[0].payload["object_attributes"]["id"], 1244);
  EXPECT_EQ(server->stats().accepted, 1u);
}

// The shell's output of `cmd` (popen): openssl and curl, the tools a person would use.
std::string shell_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

TEST_F(WebhookTest, WithACertificateTheListenerSpeaksHttpsOnly) {
  char tmpl[] = "/tmp/gitlab-tls-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  const std::string dir = tmpl;
  shell_output("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 "
               "-addext subjectAltName=IP:127.0.0.1 -keyout " + dir + "/k.pem -out " + dir + "/c.pem 2>&1");
  WebhookConfig c;
  c.tls_cert = dir + "/c.pem";
  c.tls_key = dir + "/k.pem";
  start(c);
  {
    std::FILE* f = std::fopen((dir + "/body.json").c_str(), "w");
    ASSERT_TRUE(f);
    std::string body = note_body();
    std::fwrite(body.data(), 1, body.size(), f);
    std::fclose(f);
  }
  std::string curl = "curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'X-Gitlab-Event: Note Hook' "
                     "-H 'Content-Type: application/json' --data-binary @" + dir + "/body.json ";
  std::string url = "https://127.0.0.1:" + std::to_string(port) + "/gitlab/webhook";
  EXPECT_EQ(shell_output(curl + "--cacert " + dir + "/c.pem -H 'X-Gitlab-Token: " + kSecret + "' " + url), "202");
  ASSERT_TRUE(wait_deliveries(1));
  EXPECT_EQ(shell_output(curl + "--cacert " + dir + "/c.pem -H 'X-Gitlab-Token: wrong' " + url), "401");
  // Plain HTTP on the TLS port is not served: no answer a client could take for a 2xx.
  auto plain = send_hook(port, kSecret, "Note Hook", note_body());
  EXPECT_NE(plain.status, 202);
  EXPECT_EQ(delivered(), 1u);
  EXPECT_FALSE(logged("listening on https://").empty());
  EXPECT_TRUE(logged("plain HTTP").empty()) << "no warning when TLS is on";
  std::filesystem::remove_all(dir);
}

TEST_F(WebhookTest, PlainHttpOffLoopbackIsWarnedAboutAndACertWithoutKeyIsRefused) {
  WebhookConfig c;
  c.listen_address = "0.0.0.0";
  start(c);
  EXPECT_FALSE(logged("the secret token travels in clear").empty());
  server.reset();
  WebhookConfig half;
  half.tls_cert = "/nonexistent.pem";
  EXPECT_THROW(start(half), std::runtime_error);
}

TEST_F(WebhookTest, TheAnswerDoesNotWaitForTheHandler) {
  start({}, blocking_handler());
  auto t0 = Clock::now();
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  EXPECT_EQ(send_hook(port, kSecret, "Pipeline Hook", test::sample_pipeline_hook(31, "failed").dump()).status, 202);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
  release = true;
}

TEST_F(WebhookTest, MissingOrWrongTokenIs401AndLoggedWithoutSecrets) {
  start();
  const std::string guess = "hook-secret-0123456780";  // same length, last byte differs
  EXPECT_EQ(send_hook(port, "", "Note Hook", note_body()).status, 401);
  EXPECT_EQ(send_hook(port, guess, "Note Hook", note_body()).status, 401);
  EXPECT_EQ(send_hook(port, "short", "Note Hook", note_body()).status, 401);
  EXPECT_EQ(send_hook(port, kSecret + "x", "Note Hook", note_body()).status, 401);
  EXPECT_EQ(delivered(), 0u);
  EXPECT_EQ(logged("401 no X-Gitlab-Token header").size(), 1u);
  EXPECT_EQ(logged("401 wrong X-Gitlab-Token").size(), 3u);
  std::lock_guard lock(mu);
  for (auto& [level, l] : lines) {
    EXPECT_EQ(l.find(kSecret), std::string::npos) << l;
    EXPECT_EQ(l.find(guess), std::string::npos) << l;
  }
}

TEST_F(WebhookTest, SecretComparisonIsExact) {
  EXPECT_TRUE(WebhookServer::secret_equals("abc", "abc"));
  EXPECT_FALSE(WebhookServer::secret_equals("abc", "abd"));
  EXPECT_FALSE(WebhookServer::secret_equals("abc", "abcd"));
  EXPECT_FALSE(WebhookServer::secret_equals("abcd", "abc"));
  EXPECT_FALSE(WebhookServer::secret_equals("", "a"));
  EXPECT_TRUE(WebhookServer::secret_equals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(WebhookServer::secret_equals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_F(WebhookTest, OversizedBodiesAre413) {
  WebhookConfig c;
  c.max_body_bytes = 64 * 1024;
  start(c);
  // Announced too big: refused before a byte of the body is read.
  auto a = http_request(port, "POST", "/gitlab/webhook",
                        {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Note Hook"}, {"Content-Length", "10000000"}}, "{");
  EXPECT_EQ(a.status, 413);
  // Sent whole, one byte over.
  std::string big = "{\"x\":\"" + std::string(64 * 1024 - 7, 'a') + "\"}";
  ASSERT_EQ(big.size(), 64u * 1024 + 1);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", big).status, 413);
  // At the limit: fine.
  std::string fits = big.substr(0, 6) + std::string(64 * 1024 - 8, 'a') + "\"}";
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", fits).status, 202);
  EXPECT_EQ(logged("413").size(), 2u);
}

TEST_F(WebhookTest, MalformedPayloadsAre400) {
  start();
  std::string deep(200, '[');
  deep = "{\"a\":" + deep + std::string(200, ']') + "}";
  for (std::string body : {std::string("{\"object_kind\":"), std::string("[1,2]"), std::string("\"text\""),
                           std::string("null"), deep, std::string("{\"a\":1} trailing")}) {
    auto a = send_hook(port, kSecret, "Note Hook", body);
    EXPECT_EQ(a.status, 400) << body.substr(0, 40);
  }
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", "").status, 400);            // Content-Length: 0
  EXPECT_EQ(send_hook(port, kSecret, "", note_body()).status, 400);          // no X-Gitlab-Event
  EXPECT_EQ(delivered(), 0u);
  EXPECT_EQ(logged("400 malformed payload").size(), 7u);
  EXPECT_EQ(logged("400 no X-Gitlab-Event").size(), 1u);
}

TEST_F(WebhookTest, OtherEventsAreAcceptedButNotHandedOn) {
  start();
  auto a = send_hook(port, kSecret, "Push Hook", R"({"object_kind":"push"})");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(server->stats().ignored, 1u);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  ASSERT_TRUE(wait_deliveries(1));
  std::lock_guard lock(mu);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event, "Note Hook");
}

TEST_F(WebhookTest, OtherPathsMethodsAndChunkedBodiesAreRefused) {
  start();
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body(), "", "/other").status, 404);
  EXPECT_EQ(http_request(port, "GET", "/").status, 404);
  auto get = http_request(port, "GET", "/gitlab/webhook");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("allow"), "POST");
  EXPECT_EQ(http_request(port, "PUT", "/gitlab/webhook", {{"X-Gitlab-Token", kSecret}}, "{}").status, 405);
  auto chunked = http_request(port, "POST", "/gitlab/webhook",
                              {{"X-Gitlab-Token", kSecret}, {"X-Gitlab-Event", "Note Hook"}, {"Transfer-Encoding", "chunked"}},
                              "2\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 411);
  EXPECT_EQ(delivered(), 0u);
  EXPECT_EQ(logged("404 no such path").size(), 2u);
  EXPECT_EQ(logged("405").size(), 2u);
  // The server is still fine.
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
}

TEST_F(WebhookTest, AConfiguredPathIsTheOnlyOne) {
  WebhookConfig c;
  c.path = "/hooks/gl";
  start(c);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body(), "", "/hooks/gl").status, 202);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 404);
}

TEST_F(WebhookTest, ManyConcurrentDeliveriesAllArrive) {
  WebhookConfig c;
  c.max_queue = 1000;
  start(c);
  constexpr int kThreads = 24, kEach = 8;
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string uuid = "u-" + std::to_string(t) + "-" + std::to_string(i);
        if (send_hook(port, kSecret, "Note Hook", test::sample_mr_note_hook(t * 100 + i, "hi").dump(), uuid).status == 202)
          ++accepted;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), kThreads * kEach);
  ASSERT_TRUE(wait_deliveries(kThreads * kEach));
  std::set<std::string> uuids;
  std::lock_guard lock(mu);
  for (auto& d : got) uuids.insert(d.event_uuid);
  EXPECT_EQ(uuids.size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(WebhookTest, AFullQueueAnswers503) {
  WebhookConfig c;
  c.max_queue = 2;
  start(c, blocking_handler());
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  ASSERT_TRUE(wait_entered(1));  // the first is being handled; two may wait
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  auto full = send_hook(port, kSecret, "Note Hook", note_body());
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(full.header("retry-after"), "5");
  release = true;
}

TEST_F(WebhookTest, TheQueueIsBoundedByBytesToo) {
  // Big bodies (a note with a pasted log): the count limit is far, the byte limit is not.
  std::string big = test::sample_mr_note_hook(1, "@ccmux " + std::string(300 * 1024, 'x')).dump();
  WebhookConfig c;
  c.max_queue = 256;
  c.max_queue_bytes = 2 * big.size() + big.size() / 2;  // room for two waiting, not three
  start(c, blocking_handler());
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", big).status, 202);
  ASSERT_TRUE(wait_entered(1));  // being handled: no longer in the queue
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", big).status, 202);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", big).status, 202);
  auto full = send_hook(port, kSecret, "Note Hook", big);
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(full.header("retry-after"), "5");
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);  // a small one still fits
  EXPECT_EQ(server->stats().dropped, 1u);
  // Once the handler is free the queue drains and takes big ones again.
  release = true;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (entered < 4 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(entered.load(), 4);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", big).status, 202);
}

TEST_F(WebhookTest, StopDuringARequestAndDuringTheHandlerLeavesNothingRunning) {
  start({}, blocking_handler());
  // A handler busy with one delivery, another queued, and a request half sent.
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  ASSERT_TRUE(wait_entered(1));
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string half = "POST /gitlab/webhook HTTP/1.1\r\nHost: x\r\nX-Gitlab-Token: " + kSecret +
                     "\r\nX-Gitlab-Event: Note Hook\r\nContent-Length: 1000\r\n\r\n{\"a\":";
  ASSERT_GT(send(fd, half.data(), half.size(), MSG_NOSIGNAL), 0);

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server->stop();
    stopped = true;
  });
  // stop() closes the listener first, then waits for the running handler (the plugin ends its
  // work first: api->stop()). Once nothing listens, stop() is under way; the handler is held
  // until `release`, so stop() cannot have returned: no timing in this check.
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (http_request(port, "GET", "/gitlab/webhook", {}, "", 500).status != 0 && Clock::now() < deadline) {
  }
  ASSERT_EQ(http_request(port, "GET", "/gitlab/webhook", {}, "", 500).status, 0) << "the listener did not close";
  EXPECT_FALSE(stopped.load());
  EXPECT_EQ(entered.load(), 1);  // still in the first delivery
  auto t0 = Clock::now();
  release = true;
  stopper.join();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
  close(fd);
  EXPECT_EQ(server->stats().dropped, 1u);  // the queued delivery was not handled
  server->stop();  // idempotent
  server.reset();
}

TEST_F(WebhookTest, BadSettingsAreRefusedAtStart) {
  WebhookConfig empty;
  empty.secret = "";
  EXPECT_THROW(WebhookServer(empty, [](WebhookDelivery&&) {}, nullptr), std::runtime_error);
  WebhookConfig nopath;
  nopath.secret = "s";
  nopath.path = "gitlab";
  EXPECT_THROW(WebhookServer(nopath, [](WebhookDelivery&&) {}, nullptr), std::runtime_error);
  start();
  WebhookConfig taken;
  taken.secret = "s";
  taken.port = port;
  try {
    WebhookServer second(taken, [](WebhookDelivery&&) {}, nullptr);
    ADD_FAILURE() << "a second server on a taken port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << e.what();
  }
  WebhookConfig bad_address;
  bad_address.secret = "s";
  bad_address.port = 0;
  bad_address.listen_address = "203.0.113.7";  // TEST-NET-3: not an address of this machine
  EXPECT_THROW(WebhookServer(bad_address, [](WebhookDelivery&&) {}, nullptr), std::runtime_error);
}

TEST_F(WebhookTest, AHandlerThatThrowsIsLoggedAndTheNextDeliveryStillRuns) {
  start({}, [this](WebhookDelivery&&) {
    if (++entered == 1) throw std::runtime_error("boom in handler");
  });
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  EXPECT_EQ(send_hook(port, kSecret, "Note Hook", note_body()).status, 202);
  EXPECT_TRUE(wait_entered(2));
  EXPECT_EQ(logged("boom in handler").size(), 1u);
}

}  // namespace
}  // namespace ccmux::gitlab
