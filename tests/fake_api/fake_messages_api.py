#!/usr/bin/env python3
"""A scripted fake of the Anthropic Messages API for ccmux tests.

The last user message decides the answer (its last text block, or a tool_result):
  "echo: TEXT"            stream TEXT back as several text deltas
  "deltas: N"             stream N small text deltas ("d0 d1 ...")
  "tool: NAME JSON"       call tool NAME with input JSON; after the tool_result arrives,
                          answer "tool result: <first 200 chars of the result>"
  "sleep: S then TEXT"    wait S seconds, then stream TEXT
  "fail"                  answer HTTP 500 (claude retries)
  "count messages"        answer "messages: N", N = messages in the request (history check)
anything else             stream "ok".
Writes the port it bound to on stdout ("PORT <n>") and logs each request to stderr.
"""
import json, os, sys, time, http.server, socketserver, re

def sse(w, event, data):
    w.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
    w.flush()

# tool_use ids this server issued whose tool_result has not come back yet. Claude merges
# consecutive user content (tool results, then new prompts), so "is this a tool result?"
# is answered by the ids we issued, not by block order.
PENDING_TOOL_IDS = set()

def last_user_content(body):
    msgs = body.get("messages", [])
    for m in reversed(msgs):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return ("text", c)
            text = ""
            for b in c:
                if b.get("type") == "tool_result" and b.get("tool_use_id") in PENDING_TOOL_IDS:
                    PENDING_TOOL_IDS.discard(b["tool_use_id"])
                    rc = b.get("content")
                    if isinstance(rc, list):
                        rc = " ".join(x.get("text", "") for x in rc if isinstance(x, dict))
                    return ("tool_result", str(rc))
                # claude's own annotations (reminders, "[Image: source: ...]") are not the prompt
                if b.get("type") == "text" and not b.get("text", "").startswith(("<system-reminder>", "[Image")):
                    text = b["text"]
            return ("text", text)
    return ("text", "")

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, fmt, *args):
        sys.stderr.write("fake-api: " + (fmt % args) + "\n")

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(n)
        if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
            return self.json(200, {"input_tokens": 10})
        try:
            body = json.loads(raw)
        except Exception:
            return self.json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad json"}})
        if os.environ.get("FAKE_API_DUMP"):
            with open(os.environ["FAKE_API_DUMP"], "a") as f:
                f.write(json.dumps(body.get("messages", [])[-3:]) + "\n")
        kind, text = last_user_content(body)
        text = text.strip()
        if kind == "tool_result":
            return self.stream_text(body, ["tool result: ", text[:200]])
        if text == "fail":
            return self.json(500, {"type": "error", "error": {"type": "api_error", "message": "Internal server error (mock)"}})
        m = re.match(r"sleep: ([0-9.]+) then (.*)", text, re.S)
        if m:
            time.sleep(float(m.group(1)))
            return self.stream_text(body, [m.group(2)])
        if text == "count messages":
            return self.stream_text(body, [f"messages: {len(body.get('messages', []))}"])
        if text.startswith("echo: "):
            t = text[6:]
            parts = [t[i:i + 4] for i in range(0, len(t), 4)] or [""]
            return self.stream_text(body, parts)
        m = re.match(r"deltas: (\d+)", text)
        if m:
            return self.stream_text(body, [f"d{i} " for i in range(int(m.group(1)))])
        m = re.match(r"tool: (\S+) (.*)", text, re.S)
        if m:
            return self.stream_tool(body, m.group(1), json.loads(m.group(2)))
        return self.stream_text(body, ["ok"])

    def do_GET(self):
        self.json(200, {"ok": True})

    def json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, body):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        sse(self.wfile, "message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}})

    def end_stream(self, stop_reason, out_tokens):
        sse(self.wfile, "message_delta", {"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": out_tokens}})
        sse(self.wfile, "message_stop", {"type": "message_stop"})

    def stream_text(self, body, parts):
        self.start_stream(body)
        sse(self.wfile, "content_block_start", {"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}})
        for p in parts:
            sse(self.wfile, "content_block_delta", {"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": p}})
        sse(self.wfile, "content_block_stop", {"type": "content_block_stop", "index": 0})
        self.end_stream("end_turn", len(parts))

    def stream_tool(self, body, name, tool_input):
        self.start_stream(body)
        tool_id = f"toolu_fake{int(time.time()*1e6)}"
        PENDING_TOOL_IDS.add(tool_id)
        sse(self.wfile, "content_block_start", {"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}})
        js = json.dumps(tool_input)
        for i in range(0, len(js), 16):
            sse(self.wfile, "content_block_delta", {"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": js[i:i + 16]}})
        sse(self.wfile, "content_block_stop", {"type": "content_block_stop", "index": 0})
        self.end_stream("tool_use", 5)

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    srv = Server(("127.0.0.1", port), Handler)
    print(f"PORT {srv.server_address[1]}", flush=True)
    srv.serve_forever()
