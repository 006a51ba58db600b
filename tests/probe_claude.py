#!/usr/bin/env python3
"""A hostile stand-in for `claude` (stream-json) used by tests/probe.py.

At start, marker files in its cwd choose a misbehaviour:
  .probe-exit-now       exit 0 at once (before reading anything)
  .probe-never-answer   never read stdin, never write (initialize is never answered)
  .probe-warm-garbage   write the line [1,2,3] first (a warm-pool process's early output)
Otherwise it answers initialize and each user message; the prompt chooses what it writes:
  line:<name>           one bad line (BAD_LINES below), then a result
  reply-next:<name>     answer the next control_request of ours (set_permission_mode,
                        interrupt) with a bad control_response
  nested:<depth>        a can_use_tool whose input is nested <depth> objects deep
  ask                   a plain can_use_tool (Bash "echo asked")
  bigline:<MB>          one assistant line of that many megabytes, then a result
  anything else         a result echoing the prompt
A control_response from ccmuxd ends the turn with "permission: <behavior>"."""
import json, os, sys, time, uuid

cwd = os.getcwd()
if os.path.exists(os.path.join(cwd, ".probe-exit-now")):
    sys.exit(0)
if os.path.exists(os.path.join(cwd, ".probe-never-answer")):
    parent = os.getppid()
    while os.getppid() == parent:  # gone with ccmuxd, whatever killed it
        time.sleep(0.5)
    sys.exit(0)

sid = None
args = sys.argv[1:]
for flag in ("--session-id", "--resume"):
    if flag in args:
        sid = args[args.index(flag) + 1]
sid = sid or str(uuid.uuid4())


def raw(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def out(obj):
    raw(json.dumps(obj))


def result(text):
    out({"type": "result", "subtype": "success", "is_error": False, "result": text, "session_id": sid,
         "total_cost_usd": 0.001, "usage": {"input_tokens": 1, "output_tokens": 1}})


def nested(depth):
    v = {"command": "ls"}
    for _ in range(depth):
        v = {"a": v}
    return v


BAD_LINES = {
    "numeric-request-id": {"type": "control_request", "request_id": 7,
                           "request": {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "ls"}}},
    "request-is-string": {"type": "control_request", "request_id": "r-1", "request": "x"},
    "cancel-array-id": {"type": "control_cancel_request", "request_id": [1, 2]},
    "numeric-tool-name": {"type": "control_request", "request_id": "r-2",
                          "request": {"subtype": "can_use_tool", "tool_name": 5, "input": {"command": "ls"}}},
    "array": [1, 2, 3],
}
BAD_REPLIES = {
    "numeric-subtype": lambda rid: {"type": "control_response", "response": {"subtype": 5, "request_id": rid}},
    "response-is-string": lambda rid: {"type": "control_response", "response": "x"},
}

if os.path.exists(os.path.join(cwd, ".probe-warm-garbage")):
    out([1, 2, 3])

reply_next = None
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    t = msg.get("type")
    if t == "control_request":
        rid = msg.get("request_id")
        if reply_next:
            out(BAD_REPLIES[reply_next](rid))
            reply_next = None
            continue
        out({"type": "control_response", "response": {"subtype": "success", "request_id": rid, "response": {}}})
        continue
    if t == "control_response":
        r = msg.get("response", {}).get("response", {})
        result("permission: " + str(r.get("behavior")))
        continue
    if t != "user":
        continue
    text = msg["message"]["content"]
    text = text if isinstance(text, str) else json.dumps(text)
    out({"type": "system", "subtype": "init", "session_id": sid, "cwd": cwd, "model": "probe"})
    if text.startswith("line:"):
        out(BAD_LINES[text[5:]])
        result("bad line sent")
    elif text.startswith("reply-next:"):
        reply_next = text[len("reply-next:"):]
        result("armed")
    elif text.startswith("nested:"):
        out({"type": "control_request", "request_id": str(uuid.uuid4()), "request": {
            "subtype": "can_use_tool", "tool_name": "Bash", "input": nested(int(text[7:])), "permission_suggestions": []}})
    elif text == "ask":
        out({"type": "control_request", "request_id": str(uuid.uuid4()), "request": {
            "subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "echo asked"}, "permission_suggestions": []}})
    elif text.startswith("bigline:"):
        mb = int(text[8:])
        chunk = "x" * (1 << 20)
        sys.stdout.write('{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"')
        for _ in range(mb):
            sys.stdout.write(chunk)
        sys.stdout.write('"}]},"session_id":"' + sid + '"}\n')
        sys.stdout.flush()
        result("big line sent")
    else:
        result(text)
