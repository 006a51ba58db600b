#!/usr/bin/env python3
"""Replays issue 10's attacks against a running ccmuxd and checks, after each one, that
`ccmux status` still answers and the daemon's pid is unchanged (no crash, no hang).

  tests/probe.py --ccmuxd BUILD/core/ccmuxd --ccmux BUILD/core/ccmux --plugin-dir BUILD/plugins
                 [--only NAME,...] [--list] [--strict] [--keep]

claude is tests/probe_claude.py (a scripted, hostile stand-in). A probe that kills or hangs
the daemon is reported with the daemon's last log lines (and sanitizer reports when it runs
under .ci/sanitize), and the daemon is restarted for the next probe.

tests/probe_expected_failures.txt lists the probes that fail until the issue 10 fixes are
merged (strict expected failures): they do not fail the run while they fail, and a listed
probe that passes DOES fail the run, so each line is deleted as its fix lands. --strict
ignores the list. Exit status: 0 when every probe did what the list says."""
import argparse, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE_CLAUDE = os.path.join(HERE, "probe_claude.py")
EXPECTED_FILE = os.path.join(HERE, "probe_expected_failures.txt")

BENIGN_POLICY = "function decide(r) end\n"


def nested(depth):
    v = {"command": "ls"}
    for _ in range(depth):
        v = {"a": v}
    return v


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    """One local-socket client speaking the protocol (newline-delimited JSON)."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 1
        self.backlog = []

    def close(self):
        self.s.close()

    def send_raw(self, text):
        self.s.sendall(text.encode() + b"\n")

    def send(self, obj):
        self.send_raw(json.dumps(obj))

    def recv(self, timeout=10):
        """The next message, or None on timeout or EOF."""
        deadline = time.time() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                data = self.s.recv(1 << 20)
            except (socket.timeout, OSError):
                return None
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return {"type": "unparsable", "raw": line[:200].decode(errors="replace")}

    def hello(self):
        self.send({"type": "hello", "protocol": 1})
        return self.recv()

    def request(self, method, params=None, timeout=15):
        rid = self.next_id
        self.next_id += 1
        self.send({"type": "request", "id": rid, "method": method, "params": params or {}})
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.recv(deadline - time.time())
            if m is None:
                return None
            if m.get("type") == "response" and m.get("id") == rid:
                return m
            self.backlog.append(m)
        return None

    def events_until(self, session, pred, timeout):
        """Events of `session` (backlog first) until pred(event) or timeout; returns (found, events)."""
        seen = []
        deadline = time.time() + timeout
        while True:
            if self.backlog:
                m = self.backlog.pop(0)
            else:
                left = deadline - time.time()
                if left <= 0:
                    return False, seen
                m = self.recv(left)
                if m is None:
                    return False, seen
            if m.get("type") == "event" and m.get("session") == session:
                seen.append(m)
                if pred(m):
                    return True, seen


class Daemon:
    def __init__(self, args, root, name, extra_yaml="", claude_keys=None):
        self.args = args
        self.dir = os.path.join(root, name)
        self.proj = os.path.join(self.dir, "proj")
        self.sock = os.path.join(self.dir, "run", "ccmuxd.sock")
        self.policy = os.path.join(self.dir, "probe_policy.lua")
        self.log = os.path.join(self.dir, "ccmuxd.log")
        self.reports = os.path.join(self.dir, "sanitizer-reports")
        self.ws_port = free_port()
        for d in ("home", "proj", "run", "sanitizer-reports"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        for sub, marker in (("exit-now", ".probe-exit-now"), ("never-answer", ".probe-never-answer"),
                            ("warm-garbage", ".probe-warm-garbage")):
            os.makedirs(os.path.join(self.proj, sub), exist_ok=True)
            open(os.path.join(self.proj, sub, marker), "w").close()
        with open(self.policy, "w") as f:
            f.write(BENIGN_POLICY)
        keys = {"path": PROBE_CLAUDE, "warm_pool": 0, "stop_grace": 2, "idle_timeout": 120,
                "restart_backoff": 0.5, "restart_backoff_max": 4, "memory_reserve_mb": 0}
        keys.update(claude_keys or {})
        cfg = ("daemon:\n  state_dir: {d}/state\n  socket: {s}\n  log_level: info\n"
               "claude:\n{keys}"
               "projects:\n  roots: [{p}]\n"
               "approval:\n  timeout: 60\n  policies: [{pol}, builtin:default]\n  lua_instructions: 1000000\n"
               "plugins:\n  - name: transport-ws\n    search_dir: {pd}\n    listen: 127.0.0.1\n    port: {port}\n"
               ).format(d=self.dir, s=self.sock, p=self.proj, pol=self.policy, pd=args.plugin_dir, port=self.ws_port,
                        keys="".join("  {}: {}\n".format(k, v) for k, v in keys.items()))
        self.config = os.path.join(self.dir, "config.yaml")
        with open(self.config, "w") as f:
            f.write(cfg + extra_yaml)
        self.proc = None

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CCMUX_", "XDG_", "ANTHROPIC_")) and k not in ("HOME", "NOTIFY_SOCKET", "JOURNAL_STREAM")}
        env["HOME"] = os.path.join(self.dir, "home")
        # Under .ci/sanitize: this daemon's reports go to the probe's own dir, and are shown
        # with the probe that caused them (the probe's verdict is what fails the run).
        for var, name in (("ASAN_OPTIONS", "asan"), ("UBSAN_OPTIONS", "ubsan")):
            if var in env:
                opts = [o for o in env[var].split(":") if o and not o.startswith("log_path=")]
                env[var] = ":".join(opts + ["log_path=" + os.path.join(self.reports, name)])
        return env

    def start(self):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([self.args.ccmuxd, "--config", self.config], env=self.env(), stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ccmuxd exited at start:\n" + self.log_tail())
            try:
                c = Conn(self.sock, timeout=2)
                c.close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("ccmuxd did not come up:\n" + self.log_tail())

    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self, timeout=10):
        """(pid, error): the pid `ccmux status --json` reports, or why it did not answer."""
        try:
            r = subprocess.run([self.args.ccmux, "--socket", self.sock, "status", "--json"], capture_output=True,
                               text=True, timeout=timeout, env=self.env())
        except subprocess.TimeoutExpired:
            return None, "ccmux status did not answer within %d s" % timeout
        if r.returncode != 0:
            return None, "ccmux status exited %d: %s" % (r.returncode, (r.stderr or r.stdout).strip()[:300])
        try:
            return json.loads(r.stdout).get("pid"), None
        except ValueError:
            return None, "ccmux status printed no JSON: " + r.stdout[:300]

    def kill(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()
            # Its sessions outlive it (claude.hold): with no daemon running, this stops the
            # holders it left, so the next probe starts clean and nothing outlives the run.
            subprocess.run([self.args.ccmuxd, "--config", self.config, "--stop-sessions"], env=self.env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def terminate(self, timeout=20):
        """SIGTERM; True when it exited within timeout (else it is killed)."""
        if not self.alive():
            return False
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill()
            return False

    def reload(self, source, settle=1.0):
        with open(self.policy, "w") as f:
            f.write(source)
        if self.alive():
            self.proc.send_signal(signal.SIGHUP)
        time.sleep(settle)

    def connect(self):
        c = Conn(self.sock)
        c.hello()
        return c

    def log_tail(self, n=25):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def take_reports(self):
        out = []
        for name in sorted(os.listdir(self.reports)):
            path = os.path.join(self.reports, name)
            with open(path, errors="replace") as f:
                out.append("---- " + name + "\n" + "".join(f.readlines()[:40]))
            os.remove(path)
        return "".join(out)


# ---------------------------------------------------------------- the probes
# Each takes the daemon and returns (ok, detail) about its own expectation; the runner then
# checks that `ccmux status` answers and the pid did not change.

def new_session(d, prompt, sub="", timeout=15, subscribe=True):
    c = d.connect()
    r = c.request("session.new", {"cwd": os.path.join(d.proj, sub) if sub else d.proj, "prompt": prompt}, timeout)
    if not r or "result" not in r:
        return c, None, "session.new failed: %s" % r
    sid = r["result"]["id"]
    if subscribe:
        c.request("subscribe", {"session": sid, "from_seq": 1})
    return c, sid, None


def wrong_type_probe(message):
    def probe(d):
        c = Conn(d.sock)
        if message.get("type") != "hello":
            c.hello()
        c.send(message)
        m = c.recv(5)
        if m is None:
            return False, "no answer to %s (connection closed or silent)" % json.dumps(message)
        # A message that is no request at all gets an error message; a request whose id is
        # readable gets its response, carrying the error (docs/protocol.md).
        code = m.get("code") if m.get("type") == "error" else (
            (m.get("error") or {}).get("code") if m.get("type") == "response" and m.get("id") == message.get("id") else None)
        if code != "bad_message":
            return False, "answer to %s was not a bad_message error: %s" % (json.dumps(message), m)
        c.hello()
        pong = c.request("ping", timeout=5)
        if not pong or not pong.get("result", {}).get("pong"):
            return False, "the connection did not go on after the error (ping: %s)" % pong
        return True, "error %s, then ping answered" % code
    return probe


def bad_line_probe(name):
    def probe(d):
        c, sid, err = new_session(d, "line:" + name)
        if err:
            return False, err
        ok, _ = c.events_until(sid, lambda e: e["kind"] == "result", 10)
        return ok, "the turn after the bad line finished" if ok else "no result event after the bad line"
    return probe


def bad_reply_probe(name):
    def probe(d):
        c, sid, err = new_session(d, "reply-next:" + name)
        if err:
            return False, err
        if not c.events_until(sid, lambda e: e["kind"] == "result", 10)[0]:
            return False, "the arming turn did not finish"
        c.request("session.mode", {"session": sid, "mode": "plan"}, timeout=5)
        return True, "mode change answered with a bad control_response"
    return probe


def nested_tool_probe(depth):
    def probe(d):
        c, sid, err = new_session(d, "nested:%d" % depth)
        if err:
            return False, err
        ok, _ = c.events_until(sid, lambda e: e["kind"].startswith("approval_"), 10)
        return ok, "approval event for the nested input" if ok else "no approval event for the nested input"
    return probe


def hook_nested_probe(depth):
    def probe(d):
        c = d.connect()
        r = c.request("hook.event", {"input": {"session_id": str(uuid.uuid4()), "hook_event_name": "PreToolUse",
                                               "cwd": d.proj, "tool_name": "mcp__srv__tool", "tool_input": nested(depth)}},
                      timeout=10)
        return r is not None, "hook.event answered" if r else "no answer to hook.event"
    return probe


def policy_test_cli_probe(depth):
    def probe(d):
        script = os.path.join(HERE, "..", "scripts", "default.lua")
        r = subprocess.run([d.args.ccmux, "policy", "test", script, "--tool", "Bash", "--input",
                            json.dumps(nested(depth))], capture_output=True, text=True, timeout=30, env=d.env())
        ok = 0 <= r.returncode < 128  # negative: killed by a signal
        return ok, "ccmux policy test exited %d" % r.returncode
    return probe


def lua_decide_probe(source):
    """The policy `source` is loaded (SIGHUP), then a tool call asks it."""
    def probe(d):
        d.reload(source)
        c, sid, err = new_session(d, "ask")
        if err:
            return False, err
        ok, _ = c.events_until(sid, lambda e: e["kind"].startswith("approval_"), 10)
        return True, "approval event seen" if ok else "no approval event (the status check decides)"
    return probe


def lua_reload_probe(source):
    """The policy `source` is loaded, then replaced (the old Lua state is closed)."""
    def probe(d):
        d.reload(source)
        d.reload(BENIGN_POLICY)
        return True, "loaded and replaced"
    return probe


def ws_preauth_flood_probe(d):
    """8 unauthenticated WebSockets each send 4 MiB of an unfinished 15 MiB frame."""
    def rss():
        with open("/proc/%d/status" % d.pid()) as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) << 10
    before = rss()
    socks = []
    chunk = b"x" * (1 << 20)  # valid UTF-8: the server checks text frames as they arrive
    try:
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", d.ws_port), timeout=10)
            s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % d.ws_port).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                data = s.recv(4096)
                if not data:
                    break
                head += data
            n = 15 << 20
            s.sendall(bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big") + b"\x00\x00\x00\x00")
            socks.append(s)
        for s in socks:
            for _ in range(4):
                try:
                    s.sendall(chunk)
                except OSError:
                    break  # closed by the server: what a cap does
        time.sleep(2)
        grew = rss() - before
    finally:
        for s in socks:
            s.close()
    limit = 16 << 20
    return grew < limit, "daemon RSS grew %.1f MiB for 32 MiB of unauthenticated frames (limit %d MiB)" % (
        grew / 1048576, limit >> 20)


def huge_line_probe(d):
    mb = d.args.huge_line_mb
    # Not subscribed: the turn's end is polled, the replay is what `ccmux attach` shows.
    c, sid, err = new_session(d, "bigline:%d" % mb, timeout=30, subscribe=False)
    if err:
        return False, err
    deadline = time.time() + 180
    while True:
        info = c.request("session.get", {"session": sid}, timeout=30)
        if info and info.get("result", {}).get("turns", 0) >= 1:
            break
        if info is None or time.time() > deadline:
            return False, "the turn with the %d MB line did not finish in 180 s" % mb
        time.sleep(1)
    c.close()
    try:
        r = subprocess.run([d.args.ccmux, "--socket", d.sock, "attach", sid, "--from", "1", "--json", "--no-follow"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180, env=d.env())
    except subprocess.TimeoutExpired:
        return False, "ccmux attach --from 1 did not finish in 180 s"
    ok = r.returncode == 0 and b"big line sent" in r.stdout
    return ok, "ccmux attach --from 1 after a %d MB line: exit %d, %s" % (
        mb, r.returncode, (r.stderr.decode(errors="replace").strip() or "replayed")[:200])


def instant_exit_probe(d):
    c, sid, err = new_session(d, "hello", "exit-now")  # the queued prompt keeps asking for a process
    if err:
        return False, err
    time.sleep(3)
    _, evs = c.events_until(sid, lambda e: False, 0.5)
    starts = sum(1 for e in evs if e["kind"] == "session_started")
    c.request("session.stop", {"session": sid}, timeout=5)
    stopped_ms = time.time() * 1000
    time.sleep(3)
    info = c.request("session.get", {"session": sid}, timeout=5)
    state = (info or {}).get("result", {}).get("state")
    _, later = c.events_until(sid, lambda e: False, 2)
    # By the daemon's timestamp: under load a start from before the stop can reach this client
    # after it (it is then late news, not a restart).
    restarts = sum(1 for e in later if e["kind"] == "session_started" and e.get("ts", 0) > stopped_ms)
    ok = starts <= 8 and state not in ("starting", "running", "idle", "restarting") and restarts == 0
    return ok, "%d starts in 3 s; after stop: state %s, %d more starts in 2 s" % (starts, state, restarts)


NEVER_ANSWER_LIMIT_S = 75


def never_answer_start(args, root):
    """A daemon of its own, set up first and checked last (the wait overlaps the other
    probes): a claude that never reads stdin nor answers initialize must not keep its
    session 'starting' for ever."""
    # claude.start_timeout (default 120 s) is what ends it; 30 s keeps the probe short.
    d = Daemon(args, root, "never", claude_keys={"idle_timeout": 30, "start_timeout": 30})
    d.start()
    c, sid, err = new_session(d, None, "never-answer")
    d.never_answer = (sid, time.time())
    d.pid_before = d.pid()
    return d


def never_answer_check(d):
    """The session's events must show the start timeout (the state alone is not enough: after
    the kill the crash backoff starts claude again, so it is 'starting' most of the time)."""
    sid, since = getattr(d, "never_answer", (None, 0))
    if not sid:
        return False, "the never-answer session was not set up"
    c = d.connect()
    c.request("subscribe", {"session": sid, "from_seq": 1})
    wait = max(NEVER_ANSWER_LIMIT_S - (time.time() - since), 0) + 1
    found, evs = c.events_until(sid, lambda e: "start timeout" in json.dumps(e.get("payload")), wait)
    info = c.request("session.get", {"session": sid}, timeout=5)
    state = (info or {}).get("result", {}).get("state")
    c.request("session.stop", {"session": sid}, timeout=5)
    if not found:
        return False, "no start timeout %d s after a claude that never answers initialize was started (state %s)" % (
            time.time() - since, state)
    kinds = sorted({e.get("kind") for e in evs if "start timeout" in json.dumps(e.get("payload"))})
    return True, "start timeout seen (%s), state now %s, %d s after the start" % (
        ", ".join(kinds), state, time.time() - since)


def warm_garbage_probe(args, root):
    """A separate daemon with the warm pool on; its warm claude writes [1,2,3] first."""
    d = Daemon(args, root, "warm", claude_keys={"warm_pool": 1, "warm_pool_idle": 600})
    d.start()
    pid = d.pid()
    try:
        c, sid, err = new_session(d, "hello", "warm-garbage")
        if err:
            return False, err, d
        time.sleep(5)  # the pool refills 2 s after a take; its claude writes the line at once
        return True, "warm claude wrote [1,2,3]", d
    finally:
        d.pid_before = pid


LUA = {
    "lua-pcall-loop": lua_decide_probe(
        "function decide(r) while true do pcall(function() while true do end end) end end\n"),
    "lua-gc-loop-at-call": lua_decide_probe(
        "function decide(r)\n  for i = 1, 100 do setmetatable({}, {__gc = function() while true do end end}) end\n"
        "  local t = {} for i = 1, 300000 do t[i % 50] = {i} end\n  return 'ask'\nend\n"),
    "lua-gc-loop-at-reload": lua_reload_probe(
        "keep = setmetatable({}, {__gc = function() while true do end end})\nfunction decide(r) end\n"),
    "lua-pattern": lua_decide_probe(
        "function decide(r) return ('a'):rep(3000):find(('a*'):rep(20) .. 'b') and 'allow' or 'ask' end\n"),
    "lua-top-level-loop-at-reload": lua_reload_probe("while true do end\nfunction decide(r) end\n"),
    "lua-result-index-loops": lua_decide_probe(
        "function decide(r) return setmetatable({}, {__index = function() while true do end end}) end\n"),
    "lua-result-index-errors": lua_decide_probe(
        "function decide(r) return setmetatable({}, {__index = function() error('no') end}) end\n"),
    "lua-G-index-errors-at-load": lua_reload_probe(
        "setmetatable(_G, {__index = function(t, k) error('no global ' .. k) end})\n"),
    "lua-G-index-errors-at-call": lua_decide_probe(
        "function decide(r) return 'ask' end\nsetmetatable(_G, {__index = function(t, k) error('no global ' .. k) end})\n"),
    "lua-updated-input-cyclic": lua_decide_probe(
        "function decide(r) local t = {command = 'ls'} t.self = t return {decision = 'allow', updated_input = t} end\n"),
    "lua-updated-input-invalid-utf8": lua_decide_probe(
        "function decide(r) return {decision = 'allow', updated_input = {command = 'echo ' .. string.char(255, 254)}} end\n"),
}

PROBES = [
    ("socket-type-number", 2, wrong_type_probe({"type": 5})),
    ("socket-type-null", 2, wrong_type_probe({"type": None})),
    ("socket-hello-protocol-string", 2, wrong_type_probe({"type": "hello", "protocol": "1"})),
    ("socket-hello-watch-approvals-string", 2, wrong_type_probe({"type": "hello", "protocol": 1, "watch_approvals": "yes"})),
    ("socket-method-number", 2, wrong_type_probe({"type": "request", "id": 1, "method": 5})),
    ("claude-numeric-request-id", 3, bad_line_probe("numeric-request-id")),
    ("claude-request-is-string", 3, bad_line_probe("request-is-string")),
    ("claude-cancel-array-id", 3, bad_line_probe("cancel-array-id")),
    ("claude-numeric-tool-name", 3, bad_line_probe("numeric-tool-name")),
    ("claude-array-line", 3, bad_line_probe("array")),
    ("claude-control-response-numeric-subtype", 3, bad_reply_probe("numeric-subtype")),
    ("claude-control-response-is-string", 3, bad_reply_probe("response-is-string")),
    ("default-policy-nested-20", 1, nested_tool_probe(20)),
    ("default-policy-nested-60", 1, nested_tool_probe(60)),
    ("policy-test-cli-nested-20", 1, policy_test_cli_probe(20)),
    ("hook-event-nested-20", 1, hook_nested_probe(20)),
    ("hook-event-nested-60", 1, hook_nested_probe(60)),
] + [(name, 4, fn) for name, fn in LUA.items()] + [
    ("ws-preauth-flood", 9, ws_preauth_flood_probe),
    ("claude-exits-at-once", 5, instant_exit_probe),
    ("huge-line-then-attach", 10, huge_line_probe),
]
SPECIAL = ["never-answer-leaves-starting", "claude-warm-pool-array-line", "shutdown-with-gc-loop-policy"]


def read_expected():
    out = {}
    if os.path.exists(EXPECTED_FILE):
        for line in open(EXPECTED_FILE):
            line = line.split("#", 1)
            name = line[0].strip()
            if name:
                out[name] = line[1].strip() if len(line) > 1 else ""
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ccmuxd", required=True)
    ap.add_argument("--ccmux", required=True)
    ap.add_argument("--plugin-dir", required=True, help="folder holding libtransport-ws.so")
    ap.add_argument("--only", default="", help="comma-separated probe names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--strict", action="store_true", help="every failure counts (ignore the expected-failures list)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--huge-line-mb", type=int, default=300)
    args = ap.parse_args()
    names = [n for n, _, _ in PROBES] + SPECIAL
    if args.list:
        print("\n".join(names))
        return 0
    only = set(filter(None, args.only.split(",")))
    unknown = only - set(names)
    if unknown:
        print("unknown probes: " + ", ".join(sorted(unknown)), file=sys.stderr)
        return 2
    expected = {} if args.strict else read_expected()
    root = tempfile.mkdtemp(prefix="ccmux-probe-")
    results = []  # (name, ok, detail)

    def record(name, ok, detail, d=None):
        mark = "ok  " if ok else "FAIL"
        if not ok and name in expected:
            mark = "xfail"
        elif ok and name in expected:
            mark = "XPASS"
        print("%-5s %-42s %s" % (mark, name, detail), flush=True)
        if not ok and d is not None:
            tail = d.log_tail(15)
            reports = d.take_reports()
            if tail:
                print("      ccmuxd log tail:\n" + "".join("        " + l + "\n" for l in tail.splitlines()), end="")
            if reports:
                print("      sanitizer reports:\n" + "".join("        " + l + "\n" for l in reports.splitlines()[:60]), end="")
        results.append((name, ok))

    d = Daemon(args, root, "main")
    never = None
    try:
        if not only or "never-answer-leaves-starting" in only:
            never = never_answer_start(args, root)
        d.start()
        for name, settle, fn in PROBES:
            if only and name not in only:
                continue
            if not d.alive():
                d.start()
            pid = d.pid()
            t = time.time()
            try:
                ok, detail = fn(d)
            except Exception as e:  # a socket error is what a dying daemon looks like
                ok, detail = False, "%s: %s" % (type(e).__name__, e)
            reported, why = d.status(timeout=10)
            if why or reported != pid or not d.alive():
                rc = d.proc.poll()
                died = "" if rc is None else " (ccmuxd exited: %s)" % (
                    "signal %d" % -rc if rc < 0 else "status %d" % rc)
                ok, detail = False, "%s; %s%s" % (detail, why or "pid %s -> %s" % (pid, reported), died)
            record(name, ok, "%s [%.1f s]" % (detail, time.time() - t), d)
            if not ok:
                d.kill()  # hung or dead: the next probe gets a fresh daemon
                d.reload(BENIGN_POLICY, settle=0)
            elif name.startswith("lua-"):
                d.reload(BENIGN_POLICY, settle=0.5)

        if never is not None:
            t = time.time()
            try:
                ok, detail = never_answer_check(never)
            except Exception as e:
                ok, detail = False, "%s: %s" % (type(e).__name__, e)
            reported, why = never.status(timeout=10)
            if why or reported != never.pid_before or not never.alive():
                ok, detail = False, "%s; %s" % (detail, why or "pid changed")
            record("never-answer-leaves-starting", ok, "%s [%.1f s]" % (detail, time.time() - t), never)
            never.kill()

        if not only or "claude-warm-pool-array-line" in only:
            t = time.time()
            try:
                ok, detail, w = warm_garbage_probe(args, root)
                reported, why = w.status(timeout=10)
                if why or reported != w.pid_before or not w.alive():
                    ok, detail = False, "%s; %s" % (detail, why or "pid changed")
                record("claude-warm-pool-array-line", ok, "%s [%.1f s]" % (detail, time.time() - t), w)
                w.kill()
            except Exception as e:
                record("claude-warm-pool-array-line", False, "%s: %s" % (type(e).__name__, e))

        if not only or "shutdown-with-gc-loop-policy" in only:
            if not d.alive():
                d.start()
            d.reload("keep = setmetatable({}, {__gc = function() while true do end end})\nfunction decide(r) end\n")
            t = time.time()
            ok = d.terminate(timeout=20)
            record("shutdown-with-gc-loop-policy", ok,
                   "SIGTERM %s [%.1f s]" % ("ended ccmuxd" if ok else "did not end ccmuxd within 20 s", time.time() - t), d)
    finally:
        d.kill()
        if never is not None:
            never.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept " + root)

    failed = [n for n, ok in results if not ok and n not in expected]
    xpassed = [n for n, ok in results if ok and n in expected]
    xfailed = [n for n, ok in results if not ok and n in expected]
    print("\n%d probes: %d passed, %d failed, %d expected failures, %d unexpectedly passed" % (
        len(results), sum(1 for _, ok in results if ok) - len(xpassed), len(failed), len(xfailed), len(xpassed)))
    if xfailed:
        print("Expected to fail until the issue 10 fixes are merged (tests/probe_expected_failures.txt): " +
              ", ".join(xfailed))
    if xpassed:
        print("Now passing, so delete their lines from tests/probe_expected_failures.txt: " + ", ".join(xpassed))
    if failed:
        print("FAILED: " + ", ".join(failed))
    return 1 if failed or xpassed else 0


if __name__ == "__main__":
    sys.exit(main())
