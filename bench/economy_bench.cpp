// Session economy figures (issue 5). Prints figures with same-run baselines; never fails on a time.
//   start    `session.new` -> first streamed event, real claude + fake Messages API:
//            bare claude (spawned directly, same flags) vs ccmux cold vs ccmux warm pool
//   resume   a parked session's next prompt -> first streamed event vs a cold new session (real claude)
//   many     N sessions (scripted fake claude) created and parked with claude.max_live 8:
//            peak live processes, ccmuxd RSS, parked vs new session prompt -> result
// Usage: ccmux_economy_bench [--only start|resume|many] [--runs N] [--sessions N]
#include "bench_support.h"
#include "harness.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <fcntl.h>
#include <filesystem>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace ccmux;
using namespace ccmux::test;
using nlohmann::json;
using namespace ccmux::bench;

namespace {

// Milliseconds from t0 to the session's first line from claude (its system/init, the turn has
// begun) and to its first stream_event (the API's first delta), from `from_seq` on.
struct FirstEvents {
  double init_ms = 0, delta_ms = 0;
};
FirstEvents until_first_delta(Client& c, const std::string& id, uint64_t from_seq, Clock::time_point t0) {
  c.request("subscribe", {{"session", id}, {"from_seq", from_seq}});
  FirstEvents f;
  for (;;) {
    auto ev = c.next(60000);
    if (!ev) throw std::runtime_error("no streamed event from " + id);
    if (ev->value("session", "") != id) continue;
    if (ev->value("kind", "") == "system" && f.init_ms == 0) f.init_ms = ms_since(t0);
    if (ev->value("kind", "") == "stream_event") {
      f.delta_ms = ms_since(t0);
      c.request("unsubscribe", {{"session", id}});
      return f;
    }
  }
}

std::string real_claude() {
  std::string out;
  if (run_command({"/bin/sh", "-c", "command -v claude"}, &out) != 0) throw std::runtime_error("claude is not on PATH");
  return out.substr(0, out.find('\n'));
}

std::vector<std::string> test_env(const std::string& home, const std::string& api) {
  return {"HOME=" + home, "ANTHROPIC_BASE_URL=" + api, "ANTHROPIC_API_KEY=dummy-test-key",
          "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1"};
}

// The baselines: claude spawned directly with ccmux's flags, timed from writing the prompt
// to its first stream_event line; the prompt is written at once (cold) or `ahead_s` after
// the spawn and an initialize request (what the warm pool does).
double bare_claude_first_delta(const std::string& claude, const std::string& cwd, const std::vector<std::string>& env,
                               double ahead_s = 0, double* init_ms = nullptr) {
  int in[2], out[2];
  if (pipe(in) || pipe(out)) throw std::runtime_error("pipe");
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    close(in[1]);
    close(out[0]);
    if (chdir(cwd.c_str()) != 0) _exit(127);
    for (auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    execl(claude.c_str(), "claude", "-p", "--input-format", "stream-json", "--output-format", "stream-json",
          "--verbose", "--include-partial-messages", "--permission-prompt-tool", "stdio", nullptr);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  if (ahead_s > 0) {
    std::string init = R"({"type":"control_request","request_id":"i1","request":{"subtype":"initialize"}})" "\n";
    (void)!write(in[1], init.data(), init.size());
    std::this_thread::sleep_for(std::chrono::duration<double>(ahead_s));
    t0 = Clock::now();
  }
  std::string msg = R"({"type":"user","message":{"role":"user","content":"echo: hello there"},"parent_tool_use_id":null,"session_id":""})"
                    "\n";
  (void)!write(in[1], msg.data(), msg.size());
  std::string buf;
  char chunk[65536];
  double ms = -1;
  for (;;) {
    ssize_t n = read(out[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (init_ms && *init_ms == 0 && buf.find("\"subtype\":\"init\"") != std::string::npos) *init_ms = ms_since(t0);
    if (buf.find("\"type\":\"stream_event\"") != std::string::npos) {
      ms = ms_since(t0);
      break;
    }
  }
  close(in[1]);
  close(out[0]);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  if (ms < 0) throw std::runtime_error("bare claude streamed nothing");
  return ms;
}

struct RealSetup {
  TempDir dir;
  FakeApi api;
  std::string claude = real_claude();
};

std::unique_ptr<Daemon> real_daemon(RealSetup& r, const std::string& name, int warm_pool, std::vector<std::string> keys) {
  DaemonOptions o;
  o.log_level = "info";  // as shipped
  o.warm_pool = warm_pool;
  o.claude_keys = std::move(keys);
  return std::make_unique<Daemon>(r.dir.path + "/" + name, r.api.base_url(), o);
}

void bench_start(int runs) {
  RealSetup r;
  std::string home = r.dir.path + "/bare-home", cwd = r.dir.path + "/bare-proj";
  std::filesystem::create_directories(home);
  std::filesystem::create_directories(cwd);
  std::vector<double> bare, bare_ahead, bare_ahead_init;
  for (int i = 0; i < runs; ++i) {
    bare.push_back(bare_claude_first_delta(r.claude, cwd, test_env(home, r.api.base_url())));
    double init = 0;
    bare_ahead.push_back(bare_claude_first_delta(r.claude, cwd, test_env(home, r.api.base_url()), 3.0, &init));
    bare_ahead_init.push_back(init);
  }
  auto measure = [&](Daemon& d, bool warm_pool, std::vector<double>& init, std::vector<double>& delta) {
    auto c = d.connect();
    for (int i = 0; i < runs + 1; ++i) {
      if (warm_pool) {  // a warm process ready for this project, as a user coming back would find
        for (int k = 0; k < 600; ++k) {
          json procs = c->request("status")["economy"]["warm_pool"]["processes"];
          if (!procs.empty() && procs[0]["ready"].get<bool>()) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // spawned a few seconds ahead
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // same pacing, no pool
      }
      auto t0 = Clock::now();
      std::string id = c->request("session.new", {{"cwd", d.project()}, {"prompt", "echo: hello there"}})["id"];
      FirstEvents f = until_first_delta(*c, id, 1, t0);
      if (i > 0) {  // the first run only teaches the pool the project (both daemons skip it alike)
        init.push_back(f.init_ms);
        delta.push_back(f.delta_ms);
      }
      wait_turns(*c, id, 1);
      c->request("session.stop", {{"session", id}});
    }
  };
  std::vector<double> cold_init, cold, warm_init, warm;
  {
    auto d = real_daemon(r, "cold", 0, {});
    measure(*d, false, cold_init, cold);
  }
  {
    auto d = real_daemon(r, "warm", 1, {});
    measure(*d, true, warm_init, warm);
  }
  printf("start  session.new -> claude's first line (system/init) | -> first stream_event delta, real claude, median "
         "of %d:\n"
         "       ccmux warm pool %.0f | %.0f ms; ccmux cold %.0f | %.0f ms (warm = %.2fx cold to the first delta)\n"
         "       bare claude, same flags, prompt written at spawn: - | %.0f ms (ccmux cold %+.0f ms); bare claude "
         "spawned 3 s ahead: %.0f | %.0f ms (ccmux warm %+.0f | %+.0f ms)\n",
         runs, median(warm_init), median(warm), median(cold_init), median(cold), median(warm) / median(cold),
         median(bare), median(cold) - median(bare), median(bare_ahead_init), median(bare_ahead),
         median(warm_init) - median(bare_ahead_init), median(warm) - median(bare_ahead));
}

void bench_resume(int runs) {
  RealSetup r;
  auto d = real_daemon(r, "resume", 0, {"park_after: 1"});
  auto c = d->connect();
  std::vector<double> cold, parked;
  std::vector<std::string> ids;
  for (int i = 0; i < runs; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto t0 = Clock::now();
    std::string id = c->request("session.new", {{"cwd", d->project()}, {"prompt", "echo: first turn of a session"}})["id"];
    cold.push_back(until_first_delta(*c, id, 1, t0).delta_ms);
    wait_turns(*c, id, 1);
    ids.push_back(id);
  }
  for (auto& id : ids) wait_for_state(*c, id, "parked");
  for (auto& id : ids) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    uint64_t head = c->request("session.get", {{"session", id}})["last_seq"];
    auto t0 = Clock::now();
    c->request("session.send", {{"session", id}, {"prompt", "echo: back after parking"}});
    parked.push_back(until_first_delta(*c, id, head + 1, t0).delta_ms);
    wait_turns(*c, id, 1);
  }
  printf("resume parked session's next prompt -> first streamed event, real claude --resume (median of %d): %.0f ms | "
         "cold new session %.0f ms (parked = %.2fx cold)\n",
         runs, median(parked), median(cold), median(parked) / median(cold));
}

void bench_many(int sessions) {
  TempDir t;
  DaemonOptions o;
  o.log_level = "info";
  o.claude_path = build_dir() + "/bench/fake_claude_firehose";
  o.claude_env = {{"FIREHOSE_MODE", "idle"}};
  o.claude_keys = {"max_live: 8"};
  Daemon d(t.path + "/d", "http://127.0.0.1:9", o);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long base = proc_status_kb(d.pid(), "VmRSS");
  auto c = d.connect();
  auto watcher = d.connect();
  size_t peak_live = 0;
  std::atomic<bool> done{false};
  std::thread watch([&] {  // samples the live count while sessions come and go
    while (!done) {
      size_t live = watcher->request("status")["live_processes"];
      peak_live = std::max(peak_live, live);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  auto t0 = Clock::now();
  std::vector<std::string> ids;
  for (int i = 0; i < sessions; ++i) {
    ids.push_back(c->request("session.new", {{"cwd", d.project()}, {"prompt", "hi"}})["id"]);
    if (ids.size() % 8 == 0)  // a user opens sessions a few at a time
      for (size_t k = ids.size() - 8; k < ids.size(); ++k) wait_turns(*c, ids[k], 1);
  }
  for (auto& id : ids) {
    json s = c->request("session.get", {{"session", id}});
    if (s["turns"].get<int>() < 1) wait_turns(*c, id, 1);
  }
  double create_s = ms_since(t0) / 1000;
  done = true;
  watch.join();
  json status = c->request("status");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long rss = proc_status_kb(d.pid(), "VmRSS");
  // Prompt -> result: a parked session (respawned with --resume) vs a brand-new one, at this scale.
  std::vector<double> parked, fresh;
  for (int i = 0; i < 15; ++i) {
    const std::string& id = ids[static_cast<size_t>(i) * ids.size() / 15];
    auto t1 = Clock::now();
    c->request("session.send", {{"session", id}, {"prompt", "again"}});
    wait_turns(*c, id, 2, 60, std::chrono::milliseconds(0));
    parked.push_back(ms_since(t1));
    auto t2 = Clock::now();
    std::string nid = c->request("session.new", {{"cwd", d.project()}, {"prompt", "hi"}})["id"];
    wait_turns(*c, nid, 1, 60, std::chrono::milliseconds(0));
    fresh.push_back(ms_since(t2));
  }
  printf("many   %d sessions created and parked, claude.max_live 8, scripted fake claude: created in %.1f s, peak live "
         "processes %zu, parked %d | ccmuxd RSS %.1f MB (empty daemon %.1f MB) | prompt -> result: parked session "
         "%.1f ms vs new session %.1f ms (median of 15, %.2fx)\n",
         sessions, create_s, peak_live, status["sessions"].value("parked", 0), rss / 1024.0, base / 1024.0,
         median(parked), median(fresh), median(parked) / median(fresh));
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 9, sessions = 1000;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--sessions")) sessions = std::atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  auto want = [&](const char* name) { return only.empty() || only == name; };
  printf("ccmux economy bench (%u cores)\n", std::thread::hardware_concurrency());
  try {
    if (want("many")) bench_many(sessions);
    if (want("start")) bench_start(runs);
    if (want("resume")) bench_resume(runs);
  } catch (const std::exception& e) {
    fprintf(stderr, "economy bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
