// The stand-in claude of bench/soak: each user message starts a turn of SOAK_EVENTS
// stream_event lines at SOAK_RATE lines per second, with a can_use_tool every
// SOAK_APPROVAL_EVERY lines that waits for its control_response, then a result. Its own
// control requests (initialize, interrupt, mode) are answered at once.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

using nlohmann::json;

namespace {
long env_long(const char* name, long def) {
  const char* v = std::getenv(name);
  return v ? std::atol(v) : def;
}
void emit(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}
// Handles one line from ccmuxd that is not a prompt; true when it answered `awaited`.
bool on_control(const json& msg, const std::string& awaited) {
  std::string type = msg.value("type", "");
  if (type == "control_request") {
    emit(json{{"type", "control_response"},
              {"response", {{"subtype", "success"}, {"request_id", msg.value("request_id", "")}, {"response", json::object()}}}}
             .dump());
    return false;
  }
  if (type == "control_response" && msg.contains("response") && msg["response"].is_object())
    return !awaited.empty() && msg["response"].value("request_id", "") == awaited;
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  std::string sid = "00000000-0000-4000-8000-000000000000";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--session-id" || std::string(argv[i]) == "--resume") sid = argv[i + 1];
  long events = env_long("SOAK_EVENTS", 200), rate = std::max(1L, env_long("SOAK_RATE", 20));
  long every = env_long("SOAK_APPROVAL_EVERY", 100);
  std::string line;
  long turn = 0;
  while (std::getline(std::cin, line)) {
    json msg = json::parse(line, nullptr, false);
    if (!msg.is_object()) continue;
    if (msg.value("type", "") != "user") {
      on_control(msg, "");
      continue;
    }
    ++turn;
    emit(json{{"type", "system"}, {"subtype", "init"}, {"session_id", sid}, {"model", "soak"}}.dump());
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < events; ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(i * 1000000 / rate));
      emit(json{{"type", "stream_event"},
                {"event", {{"type", "content_block_delta"}, {"index", 0},
                           {"delta", {{"type", "text_delta"}, {"text", "turn " + std::to_string(turn) + " token " + std::to_string(i) + " "}}}}},
                {"session_id", sid}}
               .dump());
      if (every > 0 && i % every == every - 1) {
        std::string rid = "soak-" + std::to_string(turn) + "-" + std::to_string(i);
        emit(json{{"type", "control_request"},
                  {"request_id", rid},
                  {"request", {{"subtype", "can_use_tool"}, {"tool_name", "Bash"},
                               {"input", {{"command", "echo " + rid}}}, {"permission_suggestions", json::array()}}}}
                 .dump());
        while (std::getline(std::cin, line))
          if (on_control(json::parse(line, nullptr, false), rid)) break;
        start = std::chrono::steady_clock::now() - std::chrono::microseconds((i + 1) * 1000000 / rate);
      }
    }
    emit(json{{"type", "result"}, {"subtype", "success"}, {"is_error", false}, {"result", "turn " + std::to_string(turn)},
              {"session_id", sid}, {"total_cost_usd", 0.0}, {"usage", {{"input_tokens", 1}, {"output_tokens", 1}}}}
             .dump());
  }
  return 0;
}
