#!/usr/bin/env python3
"""A scripted stand-in for `claude` in stream-json mode, for fast unit tests and benches.
The real CLI is used by the end-to-end tests; this one only speaks enough of the protocol:
initialize -> control_response; each user message -> system/init, stream deltas, result.
Prompt words: "garbage" (a non-JSON line first), "crash" (SIGKILL itself), "hang" (no more
output), "ask" (a can_use_tool request; the answer decides the result text), "flood N KB" (N big lines),
"quit" (exit 0 in the middle of the turn).
FAKE_CLAUDE_MODE breaks the start-up: "exit0" (exit 0 at once), "no_stdin" (never read stdin),
"no_init" (read stdin but never answer initialize). FAKE_CLAUDE_SPAWN_LOG: a file that gets
one line (the pid) per start."""
import json, os, signal, sys, time, uuid

if os.environ.get("FAKE_CLAUDE_SPAWN_LOG"):
    with open(os.environ["FAKE_CLAUDE_SPAWN_LOG"], "a") as f:
        f.write("%d\n" % os.getpid())
mode = os.environ.get("FAKE_CLAUDE_MODE", "")
if mode:
    sys.stderr.write("fake claude: start-up mode " + mode + "\n")
    sys.stderr.flush()
if mode == "exit0":
    sys.exit(0)
if mode == "no_stdin":
    while True:
        time.sleep(3600)

sid = None
args = sys.argv[1:]
for flag in ("--session-id", "--resume"):
    if flag in args:
        sid = args[args.index(flag) + 1]
sid = sid or str(uuid.uuid4())

def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

# Odd spacing, key order, escapes and number format: must reach clients unchanged.
VERBATIM = '{"z": 1,  "type":"system", "subtype":"custom", "a":"\\u00e9\\n", "n": 1.50}'
pending = {}
for line in sys.stdin:
    msg = json.loads(line)
    t = msg.get("type")
    if t == "control_request":
        sub = msg["request"]["subtype"]
        if sub == "initialize" and mode == "no_init":
            continue
        out({"type": "control_response", "response": {"subtype": "success", "request_id": msg["request_id"],
             "response": {"mode": msg["request"].get("mode")} if sub == "set_permission_mode" else {}}})
        continue
    if t == "control_response":
        r = msg["response"]["response"]
        out({"type": "result", "subtype": "success", "is_error": False, "result": "permission: " + r["behavior"],
             "session_id": sid, "total_cost_usd": 0.001, "usage": {"input_tokens": 1, "output_tokens": 1}})
        continue
    if t != "user":
        continue
    text = msg["message"]["content"]
    text = text if isinstance(text, str) else json.dumps(text)
    out({"type": "system", "subtype": "init", "session_id": sid, "cwd": os.getcwd(), "model": "fake"})
    if "verbatim" in text:
        sys.stdout.write(VERBATIM + "\n")
        sys.stdout.flush()
    if "bigline" in text:  # one 5 MB line: no fixed line buffer anywhere
        out({"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "text", "text": "x" * (5 << 20)}]}, "session_id": sid})
    if text.startswith("flood "):  # flood N KB: N assistant lines of KB kilobytes (slow-client tests)
        _, n, kb = text.split()[:3]
        for i in range(int(n)):
            out({"type": "assistant", "message": {"role": "assistant", "content": [
                {"type": "text", "text": str(i) + ":" + "y" * (int(kb) << 10)}]}, "session_id": sid})
    if "garbage" in text:
        sys.stdout.write("this is not json {\n")
        sys.stdout.flush()
    if "quit" in text:
        sys.exit(0)
    if "crash" in text:
        os.kill(os.getpid(), signal.SIGKILL)
    if "hang" in text:
        continue
    if "ask" in text:
        out({"type": "control_request", "request_id": str(uuid.uuid4()), "request": {
            "subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "echo asked"},
            "permission_suggestions": []}})
        continue
    for w in text.split():
        out({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": w + " "}}, "session_id": sid})
    out({"type": "result", "subtype": "success", "is_error": False, "result": text, "session_id": sid,
         "total_cost_usd": 0.001, "usage": {"input_tokens": 1, "output_tokens": 1}})
