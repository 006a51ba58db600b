// A minimal stand-in for claude, for benchmarks only. After `initialize` it waits for
// a user message, then, depending on FIREHOSE_MODE:
//   stream     write FIREHOSE_EVENTS stream_event lines as fast as it can, then a result
//   approvals  send FIREHOSE_APPROVALS can_use_tool requests one at a time and time each
//              until its control_response arrives; the result carries the latencies and
//              the steady-clock time each response was read (`arrived_ns`: a client that
//              notes when it answered gets answer -> claude, on the same clock)
//   idle       answer each prompt with a result (for the many-idle-sessions figure)
//   paced      write FIREHOSE_EVENTS stream_event lines at FIREHOSE_RATE per second, each
//              carrying the steady-clock time it was written ("token <ns>"): latency benches
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void emit(const std::string& line) {
  fwrite(line.data(), 1, line.size(), stdout);
  fputc('\n', stdout);
}
std::string result(const std::string& sid, const json& extra) {
  json r = {{"type", "result"}, {"subtype", "success"}, {"is_error", false}, {"session_id", sid},
            {"total_cost_usd", 0.0}, {"usage", {{"input_tokens", 1}, {"output_tokens", 1}}}};
  r.update(extra);
  return r.dump();
}
}  // namespace

int main(int argc, char** argv) {
  std::string sid = "00000000-0000-4000-8000-000000000000";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--session-id" || std::string(argv[i]) == "--resume") sid = argv[i + 1];
  const char* m = std::getenv("FIREHOSE_MODE");
  std::string mode = m ? m : "idle";
  long events = std::getenv("FIREHOSE_EVENTS") ? std::atol(std::getenv("FIREHOSE_EVENTS")) : 100000;
  long approvals = std::getenv("FIREHOSE_APPROVALS") ? std::atol(std::getenv("FIREHOSE_APPROVALS")) : 1000;
  static char buf[1 << 20];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  std::string line;
  int approval_turn = 0;
  while (std::getline(std::cin, line)) {
    json msg = json::parse(line, nullptr, false);
    if (msg.value("type", "") == "control_request") {
      emit(json{{"type", "control_response"},
                {"response", {{"subtype", "success"}, {"request_id", msg["request_id"]}, {"response", json::object()}}}}
               .dump());
      fflush(stdout);
      continue;
    }
    if (msg.value("type", "") != "user") continue;
    emit(json{{"type", "system"}, {"subtype", "init"}, {"session_id", sid}, {"model", "firehose"}}.dump());
    if (mode == "stream") {
      // ~330 bytes, shaped like claude's text deltas.
      std::string prefix = R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token )";
      std::string suffix = R"( "}},"session_id":")" + sid +
                           R"(","parent_tool_use_id":null,"uuid":"6ad6d6a1-0f0e-4c57-9a43-5f0a6e3f1b2c","api_message_id":"msg_fake"})";
      for (long i = 0; i < events; ++i) emit(prefix + std::to_string(i) + suffix);
      emit(result(sid, {{"result", "streamed"}}));
    } else if (mode == "paced") {
      // Each line is flushed before sleeping, so the clock in it is its write time.
      long rate = std::getenv("FIREHOSE_RATE") ? std::atol(std::getenv("FIREHOSE_RATE")) : 10000;
      std::string prefix = R"({"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token )";
      std::string suffix = R"( "}},"session_id":")" + sid + R"("})";
      auto start = std::chrono::steady_clock::now();
      for (long i = 0; i < events; ++i) {
        auto due = start + std::chrono::nanoseconds(i * 1000000000LL / rate);
        if (std::chrono::steady_clock::now() < due) {
          fflush(stdout);
          std::this_thread::sleep_until(due);
        }
        emit(prefix + std::to_string(now_ns()) + suffix);
      }
      emit(result(sid, {{"result", "paced"}}));
    } else if (mode == "approvals") {
      std::vector<int64_t> lat, arrived;
      // Ids differ from turn to turn: the holder writes one answer per request id, ever.
      ++approval_turn;
      const std::string turn = std::to_string(approval_turn) + "_";
      for (long i = 0; i < approvals; ++i) {
        std::string rid = "req-" + turn + std::to_string(i);
        json req = {{"type", "control_request"},
                    {"request_id", rid},
                    {"request",
                     {{"subtype", "can_use_tool"}, {"tool_name", "Read"}, {"input", {{"file_path", "README.md"}}},
                      {"permission_suggestions", json::array()}, {"tool_use_id", "toolu_" + turn + std::to_string(i)}}}};
        int64_t t0 = now_ns();
        emit(req.dump());
        fflush(stdout);
        while (std::getline(std::cin, line)) {
          if (line.find("\"" + rid + "\"") != std::string::npos && line.find("control_response") != std::string::npos) break;
        }
        arrived.push_back(now_ns());
        lat.push_back(arrived.back() - t0);
      }
      emit(result(sid, {{"result", "approvals"}, {"latencies_ns", lat}, {"arrived_ns", arrived}}));
    } else {
      emit(result(sid, {{"result", "idle"}}));
    }
    fflush(stdout);
  }
  return 0;
}
