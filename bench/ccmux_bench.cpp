// ccmux benchmarks. Prints figures with a baseline measured in the same run; never
// fails on a time. Usage: ccmux_bench [--events N] [--approvals K] [--sessions S]
#include "approvals/lua_policy.h"
#include "approvals/policy_engine.h"
#include "approvals/policy_worker.h"
#include "bench_support.h"
#include "harness.h"

#include <nlohmann/json.hpp>
#include <simdjson.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace ccmux;
using namespace ccmux::test;
using nlohmann::json;
using namespace ccmux::bench;

namespace {

// Per-call nanoseconds: median over `samples` of `batch` calls each.
template <class F>
double per_call_ns(F&& f, int samples = 101, int batch = 1000) {
  std::vector<double> v;
  for (int s = 0; s < samples; ++s) {
    auto t0 = Clock::now();
    for (int i = 0; i < batch; ++i) f();
    v.push_back(secs(t0, Clock::now()) * 1e9 / batch);
  }
  return median(v);
}

const std::string kLine =
    R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token 12345 "}},"session_id":"d0e3c26a-6f19-44ca-9afa-919072b30a4c","parent_tool_use_id":null,"uuid":"6ad6d6a1-0f0e-4c57-9a43-5f0a6e3f1b2c","api_message_id":"msg_fake"})";

void bench_json() {
  std::string padded = kLine;
  padded.reserve(kLine.size() + simdjson::SIMDJSON_PADDING);
  size_t sink = 0;
  double nl = per_call_ns([&] {
    auto j = nlohmann::json::parse(kLine);
    sink += j["type"].get_ref<const std::string&>().size() + j.value("subtype", "").size();
  });
  simdjson::dom::parser dom;
  double sd = per_call_ns([&] {
    simdjson::dom::element doc;
    if (dom.parse(padded.data(), padded.size(), false).get(doc) == simdjson::SUCCESS) {
      std::string_view t;
      if (doc["type"].get(t) == simdjson::SUCCESS) sink += t.size();
    }
  });
  simdjson::ondemand::parser od;
  double so = per_call_ns([&] {
    auto doc = od.iterate(padded.data(), padded.size(), padded.capacity());
    std::string_view t;
    if (doc["type"].get(t) == simdjson::SUCCESS) sink += t.size();
  });
  printf("json   type/subtype of a %zu-byte stream_event line: nlohmann %.0f ns, simdjson DOM (used) %.0f ns "
         "(%.1fx faster), simdjson on-demand %.0f ns (does not validate the line)\n",
         kLine.size(), nl, sd, nl / sd, so);
  if (sink == 42) printf(" ");
}

double raw_sqlite(const std::string& path, long rows, int batch) {
  sqlite3* db;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "CREATE TABLE e(session TEXT, seq INTEGER, ts INTEGER, kind TEXT, payload BLOB, PRIMARY KEY(session, seq)) WITHOUT ROWID",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "INSERT INTO e VALUES(?,?,?,?,?)", -1, &st, nullptr);
  auto t0 = Clock::now();
  for (long i = 0; i < rows; ++i) {
    if (i % batch == 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_bind_text(st, 1, "s-12345678", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, i + 1);
    sqlite3_bind_int64(st, 3, 1795449000000 + i);
    sqlite3_bind_text(st, 4, "stream_event", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, kLine.data(), static_cast<int>(kLine.size()), SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_reset(st);
    if (i % batch == batch - 1 || i == rows - 1) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = static_cast<double>(rows) / secs(t0, Clock::now());
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rate;
}

std::string firehose() { return build_dir() + "/bench/fake_claude_firehose"; }

// The parent of a process (a held claude's parent is its holder, ccmux-shim).
pid_t parent_of(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  return static_cast<pid_t>(std::stol(stat.substr(stat.rfind(')') + 4)));
}

void bench_ingest(long events) {
  TempDir t;
  double batched = raw_sqlite(t.path + "/raw1.db", events, 1024);
  double single = raw_sqlite(t.path + "/raw2.db", std::min(events, 20000L), 1);
  // Both ways claude can run, in the same period: held (the default, issue 13: stdout read
  // from the holder's spool, the spool position committed with the events) and as ccmuxd's
  // own child (claude.hold: false, stdout read from a pipe).
  double direct_rate = 0;
  for (bool held : {false, true}) {
    DaemonOptions o;
    o.log_level = "info";  // as shipped
    o.claude_path = firehose();
    o.claude_env = {{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}};
    o.claude_keys = {held ? "hold: true" : "hold: false"};
    Daemon d(t.path + (held ? "/held" : "/direct"), "http://127.0.0.1:9", o);
    auto c = d.connect();
    std::vector<double> rates;
    double cpu0 = process_cpu_s(d.pid()), holder_cpu = 0;
    std::string last;
    for (int run = 0; run < 3; ++run) {
      auto t0 = Clock::now();
      last = c->request("session.new", {{"cwd", d.project()}, {"prompt", "go"}})["id"];
      json s = wait_turns(*c, last, 1);
      double el = secs(t0, Clock::now());
      if (s["last_seq"].get<long>() < events) throw std::runtime_error("events missing");
      rates.push_back(static_cast<double>(events) / el);
      if (held) holder_cpu += process_cpu_s(parent_of(s["pid"].get<pid_t>()));
    }
    double ours = median(rates);
    double cpu_per_event_us = (process_cpu_s(d.pid()) - cpu0) * 1e6 / (3.0 * static_cast<double>(events));
    if (!held) {
      direct_rate = ours;
      // Replay: a new local-socket client reads one session's stored events from seq 1.
      uint64_t head = c->request("session.get", {{"session", last}})["last_seq"];
      std::vector<double> replays;
      for (int run = 0; run < 3; ++run) {
        auto r = d.connect();
        auto t0 = Clock::now();
        r->request("subscribe", {{"session", last}, {"from_seq", 1}});
        uint64_t got = 0;
        while (got < head && r->next_raw(10000)) ++got;
        replays.push_back(secs(t0, Clock::now()));
      }
      sqlite3* db;
      sqlite3_open((t.path + "/raw1.db").c_str(), &db);
      sqlite3_stmt* st;
      sqlite3_prepare_v2(db, "SELECT seq, ts, kind, payload FROM e WHERE session='s-12345678' ORDER BY seq", -1, &st, nullptr);
      auto t1 = Clock::now();
      size_t bytes = 0;
      while (sqlite3_step(st) == SQLITE_ROW) bytes += static_cast<size_t>(sqlite3_column_bytes(st, 3));
      double raw_read = secs(t1, Clock::now());
      sqlite3_finalize(st);
      sqlite3_close(db);
      printf("replay %llu stored events to one local-socket client from seq 1 (median of 3): %.0f ms | raw SQLite read of "
             "the same number of rows: %.0f ms\n",
             static_cast<unsigned long long>(head), median(replays) * 1000,
             raw_read * 1000 * static_cast<double>(head) / static_cast<double>(events));
      printf("ingest %ld events from a fake claude (ccmuxd's child, pipe), stored + committed (median of 3): %.0f events/s "
             "| raw SQLite, same rows: %.0f/s in batches of 1024 (ours = %.2fx), %.0f/s one per transaction | ccmuxd CPU "
             "%.2f us per event\n",
             events, ours, batched, ours / batched, single, cpu_per_event_us);
    } else {
      printf("ingest %ld events from a held fake claude (ccmux-shim spool), stored + committed (median of 3): %.0f events/s "
             "| direct pipe, same run: %.0f/s (held = %.2fx) | ccmuxd CPU %.2f us per event, holder CPU %.2f us per event\n",
             events, ours, direct_rate, ours / direct_rate, cpu_per_event_us,
             holder_cpu * 1e6 / (3.0 * static_cast<double>(events)));
    }
    d.stop_sessions();
  }
}

// N local-socket clients subscribed to one firehose session: deliveries per second.
void bench_fanout(long events, int clients) {
  TempDir t;
  DaemonOptions o;
  o.log_level = "info";
  o.claude_path = firehose();
  o.claude_env = {{"FIREHOSE_MODE", "stream"}, {"FIREHOSE_EVENTS", std::to_string(events)}};
  Daemon d(t.path + "/d", "http://127.0.0.1:9", o);
  auto c = d.connect();
  std::string id = c->request("session.new", {{"cwd", d.project()}})["id"];
  wait_for_state(*c, id, "idle");
  uint64_t start = c->request("session.get", {{"session", id}})["last_seq"].get<uint64_t>() + 1;
  std::vector<std::unique_ptr<Client>> subs;
  for (int i = 0; i < clients; ++i) {
    subs.push_back(d.connect());
    subs.back()->request("subscribe", {{"session", id}, {"from_seq", start}});
  }
  std::atomic<long> delivered{0};
  auto t0 = Clock::now();
  c->request("session.send", {{"session", id}, {"prompt", "go"}});
  std::vector<std::thread> readers;
  for (auto& s : subs)
    readers.emplace_back([&, cl = s.get()] {
      long n = 0;
      while (n < events) {
        auto line = cl->next_raw(30000);
        if (!line) break;
        if (line->find("\"kind\":\"stream_event\"") != std::string::npos) ++n;
      }
      delivered += n;
    });
  for (auto& r : readers) r.join();
  double el = secs(t0, Clock::now());
  printf("fanout %ld events to %d local-socket clients (all readers in this process): %.0f deliveries/s (%.2f s)\n", events,
         clients, static_cast<double>(delivered.load()) / el, el);
}

void bench_lua() {
  LuaPolicy p("builtin:default", LuaLimits{});
  std::string src, err;
  read_policy_source("builtin:default", src, err);
  p.load(src);
  PolicyRequest r{"Read", {{"file_path", "/home/me/proj/src/main.cpp"}}, "s-1", "/home/me/proj", "", json::array()};
  double bash = per_call_ns([&] { p.decide(PolicyRequest{"Bash", {{"command", "make test"}}, "s-1", "/home/me/proj", "", json::array()}); });
  double read = per_call_ns([&] { p.decide(r); }, 51, 200);
  LuaPolicy trivial("t.lua", LuaLimits{});
  trivial.load("function decide(r) return 'allow' end");
  double base = per_call_ns([&] { trivial.decide(r); });
  printf("lua    decide() in-process, median per call: default.lua on Bash 'make test' %.2f us, on Read (resolves the path) "
         "%.2f us | baseline: a script that only returns 'allow' %.2f us\n",
         bash / 1000, read / 1000, base / 1000);
  // What ccmuxd pays per tool call: the same script in the policy worker process (a pipe
  // round trip each way plus JSON both ways), driven through the event loop.
  EventLoop loop;
  PolicyEngine engine(loop, PolicyEngine::Options{});
  engine.load_sync({"builtin:default"});
  PolicyRequest bash_req{"Bash", {{"command", "make test"}}, "s-1", "/home/me/proj", "", json::array()};
  double worker = per_call_ns([&] { engine.evaluate_sync(bash_req); }, 51, 200);
  printf("lua    decide() through the policy worker (what ccmuxd does), median per call: default.lua on Bash 'make test' "
         "%.2f us | in-process %.2f us (ratio %.1fx)\n",
         worker / 1000, bash / 1000, worker / bash);
}

double pipe_round_trip_ns(int n) {
  int in[2], out[2];
  if (pipe(in) || pipe(out)) return 0;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execlp("cat", "cat", nullptr);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  std::vector<double> v;
  std::string line = kLine + "\n";
  char buf[4096];
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (write(in[1], line.data(), line.size()) < 0) break;
    size_t got = 0;
    while (got < line.size()) {
      ssize_t k = read(out[0], buf, sizeof buf);
      if (k <= 0) break;
      got += static_cast<size_t>(k);
    }
    v.push_back(secs(t0, Clock::now()) * 1e9);
  }
  close(in[1]);
  close(out[0]);
  waitpid(pid, nullptr, 0);
  return median(v);
}

void bench_can_use_tool(long approvals) {
  TempDir t;
  DaemonOptions o;
  o.log_level = "info";  // as shipped
  o.claude_path = firehose();
  o.claude_env = {{"FIREHOSE_MODE", "approvals"}, {"FIREHOSE_APPROVALS", std::to_string(approvals)}};
  Daemon d(t.path + "/d", "http://127.0.0.1:9", o);
  auto c = d.connect();
  std::string id = c->request("session.new", {{"cwd", d.project()}, {"prompt", "go"}})["id"];
  wait_turns(*c, id, 1);
  EventLog log(*c, id);
  log.wait_kind("result", 10000);
  auto lat = log.of_kind("result")[0]["payload"]["latencies_ns"].get<std::vector<double>>();
  std::vector<double> warm(lat.begin() + std::min<size_t>(lat.size(), 10), lat.end());
  double base = pipe_round_trip_ns(static_cast<int>(approvals));
  printf("approve can_use_tool -> control_response through ccmuxd (default.lua allows; stored + committed), %zu "
         "requests: median %.0f us, p99 %.0f us | baseline: the same line through a pipe to `cat` and back: median %.0f us\n",
         warm.size(), median(warm) / 1000, percentile(warm, 0.99) / 1000, base / 1000);
}

// `ccmux hook` as Claude Code runs it: a new process per tool call, PreToolUse JSON on stdin,
// the decision (default.lua allows a Read inside the project) on stdout. Beside it: a Python hook POSTing to a
// local Python HTTP server, and the bare cost of starting a process (/bin/true).
void bench_hook(int n) {
  TempDir t;
  DaemonOptions o;
  o.log_level = "info";
  o.claude_path = firehose();
  Daemon d(t.path + "/d", "http://127.0.0.1:9", o);
  json input = {{"session_id", "7d0c6c1e-0000-4000-8000-000000000001"}, {"hook_event_name", "PreToolUse"},
                {"cwd", d.project()}, {"tool_name", "Read"}, {"tool_input", {{"file_path", d.project() + "/README.md"}}},
                {"permission_mode", "default"}, {"transcript_path", "/dev/null"}};
  std::string in = input.dump();
  auto timed = [&](const std::vector<std::string>& argv, const char* must_contain) {
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      std::string out;
      auto t0 = Clock::now();
      run_command_with_input(argv, in, &out, {"CCMUX_DAEMON_SOCKET=" + d.socket()});
      ms.push_back(secs(t0, Clock::now()) * 1000);
      if (must_contain && out.find(must_contain) == std::string::npos) throw std::runtime_error("hook said: " + out);
    }
    return median(ms);
  };
  double ours = timed({(std::filesystem::path(ccmux_bin()).parent_path() / "ccmux-hook").string()}, "\"allow\"");
  double full_cli = timed({ccmux_bin(), "hook"}, "\"allow\"");
  double bare = timed({"/bin/true"}, nullptr);
  // The Python design: server up first, then one python3 process per hook call.
  int p[2];
  if (pipe(p) != 0) throw std::runtime_error("pipe");
  pid_t srv = fork();
  if (srv == 0) {
    dup2(p[1], 1);
    execl("/usr/bin/python3", "python3", (source_dir() + "/bench/py_hook_server.py").c_str(), nullptr);
    _exit(127);
  }
  close(p[1]);
  std::string line;
  char ch;
  while (read(p[0], &ch, 1) == 1 && ch != '\n') line += ch;
  close(p[0]);
  std::string url = "http://127.0.0.1:" + line.substr(5) + "/hook";
  double py = timed({"/usr/bin/python3", source_dir() + "/bench/py_hook.py", url}, "\"allow\"");
  kill(srv, SIGKILL);
  waitpid(srv, nullptr, 0);
  printf("hook `ccmux-hook` PreToolUse, process start -> decision printed (%d runs, median): %.2f ms | the same through "
         "the full CLI (`ccmux hook`): %.2f ms | python3 hook POSTing to a local Python HTTP server: %.2f ms (ours %.1fx "
         "faster) | starting /bin/true: %.2f ms\n",
         n, ours, full_cli, py, py / ours, bare);
}

void bench_idle_sessions(int sessions) {
  TempDir t;
  DaemonOptions o;
  o.log_level = "info";  // as shipped
  o.claude_path = firehose();
  o.claude_env = {{"FIREHOSE_MODE", "idle"}};
  Daemon d(t.path + "/d", "http://127.0.0.1:9", o);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long base = proc_status_kb(d.pid(), "VmRSS");
  auto c = d.connect();
  std::vector<std::string> ids;
  for (int i = 0; i < sessions; ++i)
    ids.push_back(c->request("session.new", {{"cwd", d.project()}, {"prompt", "hi"}})["id"]);
  for (auto& id : ids) wait_turns(*c, id, 1);
  c.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long rss = proc_status_kb(d.pid(), "VmRSS");
  printf("idle   %d idle sessions (live fake claude processes): ccmuxd RSS %.1f MB | baseline: the same daemon with no "
         "session %.1f MB\n",
         sessions, rss / 1024.0, base / 1024.0);
}

// Issue 13: ccmuxd killed with N live held sessions, started again: how long until every
// session is adopted (listed with its claude's pid, idle), and until each has answered a new
// prompt; against ccmuxd's own start with no session. And what each holder costs in memory.
void bench_reattach(int sessions) {
  TempDir t;
  DaemonOptions o;
  o.log_level = "info";  // as shipped
  o.claude_path = firehose();
  o.claude_env = {{"FIREHOSE_MODE", "idle"}};
  std::vector<double> empty_starts;
  {
    Daemon e(t.path + "/empty", "http://127.0.0.1:9", o);
    for (int run = 0; run < 3; ++run) {
      e.kill9();
      auto t0 = Clock::now();
      e.start();
      empty_starts.push_back(ms_since(t0));
    }
  }
  Daemon d(t.path + "/d", "http://127.0.0.1:9", o);
  std::vector<std::string> ids;
  std::vector<double> holder_kb;
  {
    auto c = d.connect();
    for (int i = 0; i < sessions; ++i)
      ids.push_back(c->request("session.new", {{"cwd", d.project()}, {"prompt", "hi"}})["id"]);
    for (auto& id : ids) {
      json s = wait_turns(*c, id, 1);
      holder_kb.push_back(static_cast<double>(proc_status_kb(parent_of(s["pid"].get<pid_t>()), "VmRSS")));
    }
  }
  std::vector<double> adopted, answered;
  for (int run = 0; run < 3; ++run) {
    d.kill9();
    auto t0 = Clock::now();
    d.start();
    auto c = d.connect();
    for (;;) {
      size_t ready = 0;
      json list = c->request("session.list");
      for (auto& s : list["sessions"]) ready += s["pid"].get<long>() > 0 && s["state"] == "idle";
      if (ready == ids.size()) break;
      if (secs(t0, Clock::now()) > 60) throw std::runtime_error("sessions not adopted within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    adopted.push_back(ms_since(t0));
    for (auto& id : ids) c->request("session.send", {{"session", id}, {"prompt", "again"}});
    for (auto& id : ids) wait_turns(*c, id, run + 2);
    answered.push_back(ms_since(t0));
  }
  std::sort(holder_kb.begin(), holder_kb.end());
  printf("reattach %d held sessions after kill -9 of ccmuxd (median of 3): all adopted %.0f ms after the start, all "
         "answered a new prompt %.0f ms | ccmuxd start with no session: %.0f ms | holder RSS per session: median %.0f kB, "
         "max %.0f kB\n",
         sessions, median(adopted), median(answered), median(empty_starts), median(holder_kb), holder_kb.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (int rc = maybe_run_policy_worker(argc, argv); rc >= 0) return rc;
  long events = 200000, approvals = 2000;
  int sessions = 200;
  std::string only;  // run one figure: json, lua, ingest, fanout, approve, hook, idle, reattach
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--events")) events = std::atol(argv[i + 1]);
    if (!strcmp(argv[i], "--approvals")) approvals = std::atol(argv[i + 1]);
    if (!strcmp(argv[i], "--sessions")) sessions = std::atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  auto want = [&](const char* name) { return only.empty() || only == name; };
  printf("ccmux bench (%u cores)\n", std::thread::hardware_concurrency());
  if (want("json")) bench_json();
  if (want("lua")) bench_lua();
  if (want("ingest")) bench_ingest(events);
  if (want("fanout")) bench_fanout(events / 4, 100);
  if (want("approve")) bench_can_use_tool(approvals);
  if (want("hook")) bench_hook(200);
  if (want("idle")) bench_idle_sessions(sessions);
  if (want("reattach")) bench_reattach(50);
  return 0;
}
