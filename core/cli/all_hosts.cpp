#include "all_hosts.h"

#include "config/config_schema.h"
#include "host_transport.h"
#include "hosts.h"
#include "session_table.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace ccmux::cli {

using nlohmann::json;

namespace {

struct Answer {
  std::string name;
  bool done = false;
  bool absent = false;  // the local ccmuxd does not run: not listed, not an error
  json sessions;
  std::string problem;  // one line: why this machine is not listed
};

// Shared with the query threads, which may outlive the wait (a machine that never answers).
struct Board {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Answer> answers;
  size_t pending = 0;
};

std::string seconds(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%g s", s);
  return b;
}

// The host's name already starts connect_host's messages: "a: down (…)" says it once.
std::string without_host_prefix(const std::string& msg, const std::string& name) {
  std::string prefix = "host '" + name + "': ";
  return msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg;
}

Answer ask(const std::string& name, const std::optional<Host>& host, const std::string& socket, int timeout_ms) {
  Answer a;
  a.name = name;
  try {
    auto conn = host ? connect_host(*host, false, timeout_ms) : std::make_unique<client::Connection>(socket);
    a.sessions = conn->request("session.list", json::object(), timeout_ms).value("sessions", json::array());
  } catch (const client::ConnectError& e) {
    if (!host && e.reason == client::ConnectFailure::not_running) a.absent = true;
    else a.problem = "down (" + without_host_prefix(e.what(), name) + ")";
  } catch (const client::Unreachable& e) {
    a.problem = "down (" + without_host_prefix(e.what(), name) + ")";
  } catch (const client::Timeout&) {
    a.problem = "down (no answer to session.list within " + seconds(timeout_ms / 1000.0) + ")";
  } catch (const client::RequestFailed& e) {
    a.problem = "refused session.list (" + e.code + ": " + e.what() + ")";
  } catch (const std::exception& e) {  // a refused token file (ConfigError), ...
    a.problem = "not asked (" + std::string(e.what()) + ")";
  }
  return a;
}

}  // namespace

int list_all_hosts(const std::string& local_socket, const std::string& hosts_path, bool json_out, double timeout_s) {
  HostsFile file = load_hosts(hosts_path, true);
  auto board = std::make_shared<Board>();
  std::vector<std::optional<Host>> targets = {std::nullopt};  // the local ccmuxd first
  for (auto& h : file.hosts) targets.emplace_back(h);
  board->answers.resize(targets.size());
  board->pending = targets.size();
  int timeout_ms = static_cast<int>(timeout_s * 1000);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < targets.size(); ++i) {
    board->answers[i].name = targets[i] ? targets[i]->name : "local";
    threads.emplace_back([board, i, host = targets[i], local_socket, timeout_ms] {
      Answer a = ask(host ? host->name : "local", host, local_socket, timeout_ms);
      std::lock_guard lock(board->m);
      a.done = true;
      board->answers[i] = std::move(a);
      --board->pending;
      board->cv.notify_all();
    });
  }
  std::vector<Answer> answers;
  bool stragglers;
  {
    std::unique_lock lock(board->m);
    // A little over the per-step timeout: a slow machine reports its own error first.
    board->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms + 500), [&] { return board->pending == 0; });
    stragglers = board->pending > 0;
    answers = board->answers;
  }
  // The ones that answered are joined; one still stuck (a DNS lookup, which no timeout of ours
  // bounds) must not hold the others' answers: left behind, see the end.
  for (size_t i = 0; i < threads.size(); ++i) {
    if (answers[i].done) threads[i].join();
    else threads[i].detach();
  }

  json all = json::array();
  int answered = 0;
  for (auto& a : answers) {
    if (!a.done) a.problem = "down (no answer within " + seconds(timeout_s) + ")";
    if (a.absent || !a.problem.empty()) continue;
    ++answered;
    for (auto s : a.sessions) {
      s["host"] = a.name;
      all.push_back(std::move(s));
    }
  }
  if (json_out) std::cout << all.dump(2) << "\n";
  else if (answered > 0) print_sessions(all, true);
  std::cout << std::flush;
  for (auto& a : answers)
    if (!a.problem.empty()) std::cerr << "ccmux: " << a.name << ": " << a.problem << "\n";
  if (answered == 0 && answers.size() == 1)
    std::cerr << "ccmux: no machine to list: " << hosts_path << " lists none and no local ccmuxd runs\n";
  int rc = answered > 0 ? 0 : 2;
  if (stragglers) {
    // Threads still blocked in a connect: exiting normally would run static destructors under
    // them (OpenSSL, iostreams). Everything is printed; leave now.
    std::cerr << std::flush;
    std::_Exit(rc);
  }
  return rc;
}

}  // namespace ccmux::cli
