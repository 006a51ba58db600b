#include "approvals/policy_worker.h"

#include "approvals/lua_policy.h"
#include "json_bounds.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <sys/prctl.h>
#include <unistd.h>

namespace ccmux {

using nlohmann::json;

namespace {

void write_line(const json& msg) {
  std::string out = msg.dump(-1, ' ', false, json::error_handler_t::replace);  // Lua strings need not be UTF-8
  out.push_back('\n');
  if (fwrite(out.data(), 1, out.size(), stdout) != out.size() || fflush(stdout) != 0) _exit(0);  // the caller is gone
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

PolicyRequest to_request(const json& r) {
  PolicyRequest req;
  req.tool = str(r, "tool");
  req.input = r.contains("input") ? r["input"] : json::object();
  req.suggestions = r.contains("suggestions") ? r["suggestions"] : json::array();
  if (auto s = r.find("session"); s != r.end() && s->is_object()) {
    req.session_id = str(*s, "id");
    req.cwd = str(*s, "cwd");
    req.model = str(*s, "model");
  }
  return req;
}

int run_worker(pid_t parent, LuaLimits limits) {
  // Die with the daemon; and if it died before this line ran, do not linger.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 0;
  close_range(3, ~0U, 0);  // nothing of the daemon's (sockets, the database) is reachable from Lua's process
  signal(SIGPIPE, SIG_DFL);
  // stdout carries the protocol; logs (ccmux.log) go to stderr, which the caller logs.
  auto log = spdlog::stderr_logger_st("policy-worker");
  log->set_pattern("%v");
  spdlog::set_default_logger(log);
  std::ios::sync_with_stdio(false);

  std::map<std::string, std::unique_ptr<LuaPolicy>> scripts;
  write_line({{"ready", true}, {"pid", getpid()}});
  std::string line;
  while (std::getline(std::cin, line)) {
    json msg = parse_json_bounded(line);
    if (!msg.is_object()) continue;
    json id = msg.contains("id") ? msg["id"] : json();
    std::string op = str(msg, "op"), name = str(msg, "name");
    if (op == "load") {
      auto script = std::make_unique<LuaPolicy>(name, limits);
      std::string err = script->load(str(msg, "source"));
      write_line({{"id", id}, {"error", err}});
      // The old version goes after the answer is out: its teardown cannot delay the reply.
      if (err.empty()) scripts[name].swap(script);
    } else if (op == "decide") {
      auto it = scripts.find(name);
      if (it == scripts.end()) {
        write_line({{"id", id}, {"decision", "ask"}, {"error", name + ": not loaded in the policy worker"}});
        continue;
      }
      PolicyVerdict v = it->second->decide(to_request(msg.value("request", json::object())));
      write_line({{"id", id},
                  {"decision", v.decision},
                  {"reason", v.reason},
                  {"updated_input", v.updated_input},
                  {"error", v.error}});
    } else if (op == "drop") {
      write_line({{"id", id}, {"error", ""}});
      scripts.erase(name);
    } else {
      write_line({{"id", id}, {"error", "unknown op '" + op + "'"}});
    }
  }
  // No Lua teardown at exit: nothing is left to save and a process exit is always quick.
  fflush(stderr);
  _exit(0);
}

}  // namespace

int maybe_run_policy_worker(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], kPolicyWorkerFlag) != 0) return -1;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s %s PARENT_PID MEMORY_BYTES INSTRUCTIONS\n", argv[0], kPolicyWorkerFlag);
    return 64;
  }
  LuaLimits limits;
  limits.memory_bytes = std::strtoull(argv[3], nullptr, 10);
  limits.instructions = std::strtoll(argv[4], nullptr, 10);
  return run_worker(static_cast<pid_t>(std::strtol(argv[2], nullptr, 10)), limits);
}

}  // namespace ccmux
