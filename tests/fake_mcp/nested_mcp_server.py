#!/usr/bin/env python3
"""A minimal MCP server (stdio, newline-delimited JSON-RPC 2.0) for ccmux tests.

One tool, `echo`, whose input schema accepts any object: a model can hand it input nested
as deep as it likes, which is what the hostile-input tests need. The tool answers with the
nesting depth it received.
"""
import json, sys

def depth(v):
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0

def reply(msg_id, result=None, error=None):
    out = {"jsonrpc": "2.0", "id": msg_id}
    if error is not None:
        out["error"] = error
    else:
        out["result"] = result
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()

sys.setrecursionlimit(100000)
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    method, msg_id = msg.get("method"), msg.get("id")
    if msg_id is None:
        continue  # a notification (initialized, cancelled)
    if method == "initialize":
        reply(msg_id, {"protocolVersion": msg.get("params", {}).get("protocolVersion", "2025-06-18"),
                       "capabilities": {"tools": {}},
                       "serverInfo": {"name": "nest", "version": "1"}})
    elif method == "tools/list":
        reply(msg_id, {"tools": [{"name": "echo", "description": "Echoes how deep its input is nested.",
                                  "inputSchema": {"type": "object", "additionalProperties": True}}]})
    elif method == "tools/call":
        args = msg.get("params", {}).get("arguments", {})
        reply(msg_id, {"content": [{"type": "text", "text": "depth %d" % depth(args)}]})
    elif method == "ping":
        reply(msg_id, {})
    else:
        reply(msg_id, error={"code": -32601, "message": "method not found: %s" % method})
