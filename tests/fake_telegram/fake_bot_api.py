#!/usr/bin/env python3
"""A fake Telegram Bot API on 127.0.0.1 for the telegram plugin's tests. Speaks the documented
JSON of sendMessage, editMessageText, answerCallbackQuery and getUpdates (long polling),
under /bot<TOKEN>/<method>; a wrong token gets 401 like the real API.
Test control: POST /control/update (an update without update_id: queued for getUpdates),
GET /control/calls (every API call: {t, method, body, status}), POST /control/fail429 {"count":N}.
Usage: fake_bot_api.py TOKEN  -> prints "PORT <n>"."""
import http.server, json, sys, threading, time

TOKEN = sys.argv[1]
lock = threading.Condition()
updates, calls = [], []
state = {"next_update": 1, "next_message": 100, "fail429": 0}

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(n) if n else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self):
        if self.path == "/control/calls":
            with lock:
                return self.reply(200, calls)
        self.reply(404, {"ok": False})

    def do_POST(self):
        b = self.body()
        if self.path == "/control/update":
            with lock:
                b["update_id"] = state["next_update"]
                state["next_update"] += 1
                updates.append(b)
                lock.notify_all()
            return self.reply(200, {"ok": True})
        if self.path == "/control/fail429":
            with lock:
                state["fail429"] = b.get("count", 1)
            return self.reply(200, {"ok": True})
        parts = self.path.split("/")
        if len(parts) != 3 or not parts[1].startswith("bot"):
            return self.reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = parts[1][3:], parts[2]
        if token != TOKEN:
            return self.reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        with lock:
            if method == "sendMessage" and state["fail429"] > 0:
                state["fail429"] -= 1
                calls.append({"t": time.time(), "method": method, "body": b, "status": 429})
                return self.reply(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                        "parameters": {"retry_after": 1}})
            if method != "getUpdates":
                calls.append({"t": time.time(), "method": method, "body": b, "status": 200})
        if method == "getUpdates":
            deadline = time.time() + min(float(b.get("timeout", 0)), 2.0)
            offset = b.get("offset", 0)
            with lock:
                while True:
                    ready = [u for u in updates if u["update_id"] >= offset]
                    if ready or time.time() >= deadline:
                        return self.reply(200, {"ok": True, "result": ready})
                    lock.wait(max(0.0, deadline - time.time()))
        if method == "sendMessage":
            with lock:
                mid = state["next_message"]
                state["next_message"] += 1
            return self.reply(200, {"ok": True, "result": {"message_id": mid, "chat": {"id": b.get("chat_id")},
                                                           "text": b.get("text", "")}})
        if method in ("editMessageText", "answerCallbackQuery"):
            return self.reply(200, {"ok": True, "result": True})
        self.reply(400, {"ok": False, "error_code": 400, "description": "method not faked: " + method})

    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
