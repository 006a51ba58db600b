#!/usr/bin/env python3
"""Writes the hand-made part of fuzz/corpus/ (the seeds): the known crashers of issue 10
and typical messages of each boundary. Real captured inputs (claude's lines from a
fake-API run, hook JSON from a real claude) are checked in beside them as captured-*.
Re-run after editing; the fuzzers' own finds go to fuzz/corpus/<target>/ only when worth
keeping (crashers: fuzz/crashers/<target>/)."""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def nested(depth, leaf=None):
    v = {"command": "ls"} if leaf is None else leaf
    for i in range(depth):
        v = {"a": v}
    return v


def nested_list(depth):
    v = "x"
    for _ in range(depth):
        v = [v]
    return v


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if not isinstance(data, (bytes, bytearray)):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def j(o):
    return json.dumps(o, separators=(",", ":"))


# ---- claude's stdout lines into the supervisor ----
def can_use_tool(rid, tool, inp):
    return {"type": "control_request", "request_id": rid,
            "request": {"subtype": "can_use_tool", "tool_name": tool, "input": inp, "permission_suggestions": []}}


lines = {
    "init": {"type": "system", "subtype": "init", "session_id": "0b8f0c8e-2a4c-4f57-9b7e-6d1d7b0b1a11", "cwd": "/p", "model": "m"},
    "initialize-reply": {"type": "control_response", "response": {"subtype": "success", "request_id": "ccmux-1", "response": {}}},
    "result": {"type": "result", "subtype": "success", "is_error": False, "result": "ok", "session_id": "x",
               "total_cost_usd": 0.001, "usage": {"input_tokens": 1, "output_tokens": 1}},
    "can-use-tool": can_use_tool("r-1", "Bash", {"command": "echo hi"}),
    "can-use-tool-read": can_use_tool("r-2", "Read", {"file_path": "/etc/passwd"}),
    "hook-callback": {"type": "control_request", "request_id": "r-3", "request": {"subtype": "hook_callback", "callback_id": "c"}},
    "cancel": {"type": "control_cancel_request", "request_id": "r-1"},
    # issue 10, item 3: wrong JSON types from claude
    "crash-numeric-request-id": {"type": "control_request", "request_id": 7, "request": {"subtype": "can_use_tool", "tool_name": "Bash", "input": {}}},
    "crash-request-is-string": {"type": "control_request", "request_id": "r", "request": "x"},
    "crash-cancel-array-id": {"type": "control_cancel_request", "request_id": [1, 2]},
    "crash-response-numeric-subtype": {"type": "control_response", "response": {"subtype": 5, "request_id": "ccmux-1"}},
    "crash-numeric-tool-name": can_use_tool("r-4", 5, {"command": "ls"}),
    "crash-array-line": [1, 2, 3],
    # issue 10, item 1: deep tool inputs through the default policy
    "crash-nested-20": can_use_tool("r-5", "Bash", nested(20)),
    "crash-nested-60": can_use_tool("r-6", "mcp__srv__tool", nested(60)),
    "crash-nested-list-40": can_use_tool("r-7", "Bash", {"command": "ls", "n": nested_list(40)}),
}
for name, obj in lines.items():
    put("claude_lines", name, j(obj) + "\n")
put("claude_lines", "not-json", "this is not json {\n")
put("claude_lines", "no-type", '{"subtype":"init"}\n')
put("claude_lines", "turn", "\n".join(j(lines[k]) for k in ("initialize-reply", "init", "can-use-tool", "cancel", "result")) + "\n")

# ---- protocol messages into the command door (after hello) ----
def req(method, params=None, id=1):
    m = {"type": "request", "id": id, "method": method}
    if params is not None:
        m["params"] = params
    return j(m)


proto = {
    "status": req("status"),
    "ping": req("ping"),
    "list": req("session.list"),
    "get": req("session.get", {"session": "@SESSION@"}),
    "send": req("session.send", {"session": "@SESSION@", "prompt": "hello"}),
    "send-blocks": req("session.send", {"session": "@SESSION@", "prompt": [{"type": "text", "text": "hi"}]}),
    "subscribe": req("subscribe", {"session": "@SESSION@", "from_seq": 1}) + "\n" + req("unsubscribe", {"session": "@SESSION@"}, 2),
    "subscribe-all": req("subscribe", {"session": "*"}),
    "mode": req("session.mode", {"session": "@SESSION@", "mode": "plan"}),
    "interrupt": req("session.interrupt", {"session": "@SESSION@"}),
    "stop-send": req("session.stop", {"session": "@SESSION@"}) + "\n" + req("session.send", {"session": "@SESSION@", "prompt": "again"}, 2),
    "new": req("session.new", {"cwd": "/nonexistent", "prompt": "x"}),
    "approvals": req("approvals.list", {"all": True, "limit": 5}),
    "answer": req("approval.answer", {"id": "a-00000000", "decision": "allow"}),
    "tokens": req("token.create", {"name": "phone"}) + "\n" + req("token.list", None, 2) + "\n" + req("token.revoke", {"name": "phone"}, 3),
    "projects": req("projects.list"),
    "plugins": req("plugins.list"),
    "hook": req("hook.event", {"input": {"session_id": "h-1", "hook_event_name": "PreToolUse", "cwd": "/tmp",
                                         "tool_name": "Bash", "tool_input": {"command": "ls"}}}),
    "hello-again": j({"type": "hello", "protocol": 1, "watch_approvals": True}),
    # issue 10, item 2: wrong JSON types from a local client
    "crash-type-number": j({"type": 5}),
    "crash-type-null": j({"type": None}),
    "crash-protocol-string": j({"type": "hello", "protocol": "1"}),
    "crash-watch-approvals-string": j({"type": "hello", "protocol": 1, "watch_approvals": "yes"}),
    "crash-method-number": j({"type": "request", "id": 1, "method": 5}),
    "crash-params-types": req("session.send", {"session": 5, "prompt": {"a": 1}}) + "\n" + req("subscribe", {"session": "@SESSION@", "from_seq": "1"}, 2),
    "crash-approvals-limit": req("approvals.list", {"all": "yes", "limit": "x"}),
    "crash-hook-nested-60": req("hook.event", {"input": {"session_id": "h-2", "hook_event_name": "PreToolUse", "cwd": "/tmp",
                                                         "tool_name": "Bash", "tool_input": nested(60)}}),
}
for name, text in proto.items():
    put("protocol", name, text + "\n")

# ---- hook JSON (hook.event params.input) ----
def hook(event, **kw):
    h = {"session_id": "6f1c1d2e-4b7a-4e0e-9a43-0c9b3c1f2a10", "transcript_path": "/home/u/.claude/projects/p/x.jsonl",
         "cwd": "/home/u/proj", "permission_mode": "default", "hook_event_name": event}
    h.update(kw)
    return j(h)


hooks = {
    "pre-tool-use": hook("PreToolUse", tool_name="Bash", tool_input={"command": "ls -la", "description": "list"}, tool_use_id="toolu_1"),
    "pre-tool-use-read": hook("PreToolUse", tool_name="Read", tool_input={"file_path": "/etc/shadow"}, tool_use_id="toolu_2"),
    "permission-request": hook("PermissionRequest", tool_name="Write", tool_input={"file_path": "/tmp/x", "content": "y"},
                               permission_suggestions=[{"type": "addRules", "rules": [{"toolName": "Write"}], "behavior": "allow", "destination": "session"}]),
    "permission-request-wait": hook("PermissionRequest", tool_name="Bash", tool_input={"command": "rm -rf /"}) + ',"wait_s":0.01',
    "post-tool-use": hook("PostToolUse", tool_name="Bash", tool_input={"command": "ls"}, tool_response={"stdout": "a\nb"}),
    "stop": hook("Stop", stop_hook_active=False),
    "notification": hook("Notification", message="Claude needs your permission to use Bash"),
    "session-end": hook("SessionEnd", reason="other"),
    # issue 10, item 1 through hook.event: depth 60 -> heap corruption
    "crash-nested-20": hook("PreToolUse", tool_name="Bash", tool_input=nested(20)),
    "crash-nested-60": hook("PreToolUse", tool_name="mcp__srv__tool", tool_input=nested(60)),
    "crash-types": hook("PreToolUse", tool_name=5, tool_input="x", cwd=7, permission_mode=[]),
    "crash-session-end-reason": hook("SessionEnd", reason=5),
}
for name, text in hooks.items():
    put("hook_event", name, text)

# ---- tool inputs into Lua policies ----
lua_in = {
    "bash": {"command": "ls -la"},
    "rm": {"command": "rm -rf /"},
    "read": {"file_path": "/etc/passwd"},
    "write": {"file_path": "/home/user/proj/a.txt", "content": "x"},
    "edit": {"file_path": "../../etc/x", "old_string": "a", "new_string": "b"},
    "mixed": {"command": "x", "n": 3, "f": 1.5, "b": True, "z": None, "l": [1, "a", None, {"k": []}], "o": {}},
    "unicode": {"command": "echo \u00e9\u4e2d\ud83d\ude00", "path": "a\u0000b"},
    "array": [1, 2, 3],
    "string": "just a string",
    "crash-nested-20": nested(20),
    "crash-nested-60": nested(60),
    "crash-nested-list-200": nested_list(200),
}
for name, obj in lua_in.items():
    put("lua_input", name, j(obj))

# ---- whole policy scripts (what decide() does and returns) ----
lua_scripts = {
    "allow": 'function decide(r) return "allow", "ok" end',
    "table": 'function decide(r) return {decision = "allow", reason = "r", updated_input = {command = r.input.command .. " --dry-run"}} end',
    "deny": 'function decide(r) if r.tool == "Bash" then return "deny", "no" end end',
    "bad-decision": 'function decide(r) return "maybe" end',
    "bad-types": 'function decide(r) return {decision = 5, reason = {}, updated_input = "x"} end',
    "updated-input-array": 'function decide(r) return {decision = "allow", updated_input = {1, 2, 3}} end',
    "updated-input-bytes": 'function decide(r) return {decision = "allow", updated_input = {command = string.char(255, 254)}} end',
    "updated-input-function": 'function decide(r) return {decision = "allow", updated_input = {f = print}} end',
    "glob": 'function decide(r) return ccmux.glob(r.input.command, "*ls*") and "allow" or "ask" end',
    "error": 'function decide(r) error("kaput") end',
    "error-table": 'function decide(r) error({}) end',
    "budget": 'function decide(r) while true do end end',
    "memory": 'function decide(r) local t = {} while true do t[#t+1] = string.rep("x", 1e6) end end',
    # issue 10, item 4: hostile scripts
    "crash-pcall-loop": 'function decide(r) while true do pcall(function() while true do end end) end end',
    "crash-gc-loop-call": 'function decide(r) setmetatable({}, {__gc = function() while true do end end}) collectgarbage() return "allow" end',
    "crash-gc-loop-close": 'setmetatable({}, {__gc = function() while true do end end})\nfunction decide(r) return "allow" end',
    "crash-pattern": 'function decide(r) return ("a"):rep(3000):find(("a*"):rep(20) .. "b") and "allow" or "deny" end',
    "crash-top-level-loop": 'while true do end\nfunction decide(r) return "allow" end',
    "crash-index-loops": 'function decide(r) return setmetatable({}, {__index = function() while true do end end}) end',
    "crash-index-errors": 'function decide(r) return setmetatable({}, {__index = function() error("x") end}) end',
    "crash-g-index-errors": 'function decide(r) return "allow" end\nsetmetatable(_G, {__index = function() error("no globals") end})',
    "crash-cyclic-updated-input": 'function decide(r) local t = {} t.self = t return {decision = "allow", updated_input = t} end',
    "crash-deep-updated-input": 'function decide(r) local t = {} local c = t for i = 1, 200 do c.a = {} c = c.a end return {decision = "allow", updated_input = t} end',
}
for name, src in lua_scripts.items():
    put("lua_return", name, src + "\n")

# ---- YAML config ----
configs = {
    "minimal": "daemon:\n  log_level: info\n",
    "full": """daemon:
  state_dir: /tmp/s
  socket: /tmp/s/ccmuxd.sock
  log_level: debug
claude:
  path: /usr/bin/claude
  extra_args: [--verbose]
  env: {A: b}
  model: sonnet
  idle_timeout: 600
  stop_grace: 5
  park_after: 600
  max_live: 3
  warm_pool: 1
  warm_pool_idle: 3600
  memory_reserve_mb: 1024
  restart_backoff: 0.5
  restart_backoff_max: 30
  crash_limit: 5
  crash_window: 300
projects:
  roots: [~/src, /srv/p]
approval:
  timeout: 3600
  on_timeout: deny
  policies: [builtin:default]
  lua_memory_mb: 32
  lua_instructions: 1000000
""",
    "plugins": """plugins:
  - name: transport-ws
    listen: 0.0.0.0
    port: 8420
    allowed_origins: [https://x]
    max_message_bytes: 100
    metrics_public: true
  - name: approval
    enabled: false
  - name: telegram
    required: false
    bot_token: "123:abc"
""",
    "bad-type": "claude:\n  idle_timeout: soon\n",
    "bad-key": "claude:\n  idle: 1\n",
    "bad-list": "projects:\n  roots: {a: b}\n",
    "not-a-map": "- a\n- b\n",
    "anchors": "a: &x [*x]\n",
    "tags": "claude: !!binary aGVsbG8=\n",
    "deep": "claude: " + "[" * 200 + "]" * 200 + "\n",
    "plugin-weird": "plugins:\n  - {name: transport-ws, port: [1], listen: {a: 1}}\n  - 5\n  - name: [x]\n",
}
for name, text in configs.items():
    put("config", name, text)

# ---- settings.json for hooks install ----
settings = {
    "empty-object": "{}",
    "empty-file": "",
    "user-hooks": j({"model": "opus", "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "my-hook"}]}]},
                     "permissions": {"allow": ["Bash(git *)"]}}),
    "ours-already": j({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/usr/bin/ccmux-hook"}]}]}}),
    "ours-mixed": j({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "ccmux hook"}, {"type": "command", "command": "other"}]}]}}),
    "hooks-not-object": j({"hooks": [1, 2]}),
    "hooks-event-not-array": j({"hooks": {"PreToolUse": {"a": 1}, "Stop": "x"}}),
    "group-not-object": j({"hooks": {"PreToolUse": [5, "x", None, {"hooks": "no"}]}}),
    "pretty": json.dumps({"env": {"A": "1"}, "hooks": {}}, indent=4) + "\n",
    "not-object": "[1,2,3]",
    "not-json": "{ this is not json",
    "duplicate-keys": '{"a":1,"a":2,"hooks":{}}',
    "unicode": j({"note": "\u00e9\u4e2d", "esc": "\u0000\u001f"}),
    "crlf": '{\r\n  "a": 1\r\n}\r\n',
    "bom": "\ufeff{}",
}
for name, text in settings.items():
    put("hooks_settings", name, text)

# ---- WebSocket frames (fuzz/ws_fuzz.cpp format: a line is a text frame) ----
auth = j({"type": "auth", "token": "@TOKEN@"})
hello = j({"type": "hello", "protocol": 1})
ws = {
    "login-ping": "\n".join([auth, hello, req("ping")]),
    "login-status": "\n".join([auth, hello, req("status"), req("session.list", None, 2)]),
    "login-subscribe": "\n".join([auth, hello, req("subscribe", {"session": "@SESSION@", "from_seq": 1}), req("session.send", {"session": "@SESSION@", "prompt": "hi"}, 2)]),
    "login-forbidden": "\n".join([auth, hello, req("token.create", {"name": "x"}), req("hook.event", {"input": {}}, 2)]),
    "bad-token": "\n".join([j({"type": "auth", "token": "nope"}), hello]),
    "no-auth": "\n".join([hello, req("ping")]),
    "fragmented": "\n".join(["~1- " + auth[:10], "~0 " + auth[10:], hello, "~9 ping", "~1- " + req("ping")[:5], "~9 p", "~0 " + req("ping")[5:]]),
    "binary": "\n".join([auth, "~2 " + hello]),
    "reserved-opcode": "\n".join([auth, "~3 x", hello]),
    "pong-close": "\n".join(["~a x", "~8 ", auth]),
    "raw": "RAW\n\x81\xfe\xff\xff\x00\x00\x00\x00garbage",
    # issue 10, item 2 over WebSocket: swallowed, no answer
    "crash-type-number": "\n".join([auth, hello, j({"type": 5}), req("ping", None, 9)]),
    "crash-protocol-string": "\n".join([auth, j({"type": "hello", "protocol": "1"}), req("ping")]),
    "crash-method-number": "\n".join([auth, hello, j({"type": "request", "id": 1, "method": 5})]),
    "auth-types": "\n".join([j({"type": "auth", "token": 5}), j({"type": ["auth"]})]),
}
for name, text in ws.items():
    put("ws", name, text)
print("seeds written under", CORPUS)
