#!/usr/bin/python3
"""A ccmux gRPC client nobody on the C++ side wrote: Python stubs generated from our .proto
files (tests/grpc/stubs.py), Debian's python3-grpcio, driving a whole session against
ccmuxd's transport-grpc (run by tests/e2e/grpc_e2e_test.cpp with the real claude CLI and
the fake Messages API):

  health and reflection answer; Machine.Info; a new session whose partial text streams in;
  an approval answered over Connect (the tool's effect is checked on disk by the caller); a
  question answered; an image sent; a reconnect from a seq with no gap and no duplicate.

Environment: CCMUX_GRPC_ADDR (host:port), CCMUX_PROJECT, and either CCMUX_GRPC_CA +
CCMUX_GRPC_CERT + CCMUX_GRPC_KEY (mTLS) or CCMUX_GRPC_TOKEN (+ CCMUX_GRPC_CA for TLS, or
CCMUX_GRPC_PLAINTEXT=1). Prints GRPC CLIENT PASSED at the end; exits non-zero on a failure."""
import json, os, queue, sys, threading, time
import stubs

stubs.generate()
import grpc  # noqa: E402
from ccmux.v1 import approvals_pb2, common_pb2, events_pb2, events_pb2_grpc, machine_pb2, machine_pb2_grpc  # noqa: E402
from ccmux.v1 import sessions_pb2, sessions_pb2_grpc  # noqa: E402
from stdsvc import health_pb2, health_pb2_grpc  # noqa: E402  (package grpc.health.v1)
from stdsvc import reflection_pb2, reflection_pb2_grpc  # noqa: E402

ADDR = os.environ["CCMUX_GRPC_ADDR"]
PROJECT = os.environ["CCMUX_PROJECT"]
TIMEOUT = 90
# Events can be as large as claude.max_event_bytes (8 MiB by default): above gRPC's 4 MiB default.
OPTIONS = [("grpc.max_receive_message_length", 64 << 20), ("grpc.ssl_target_name_override", "localhost")]
# A 1x1 PNG.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2ff7c6a0000000049454e44ae426082")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def channel():
    if os.environ.get("CCMUX_GRPC_PLAINTEXT") == "1":
        return grpc.insecure_channel(ADDR, options=OPTIONS), [("authorization", "Bearer " + os.environ["CCMUX_GRPC_TOKEN"])]
    ca = read(os.environ["CCMUX_GRPC_CA"])
    if os.environ.get("CCMUX_GRPC_CERT"):
        creds = grpc.ssl_channel_credentials(ca, read(os.environ["CCMUX_GRPC_KEY"]), read(os.environ["CCMUX_GRPC_CERT"]))
        return grpc.secure_channel(ADDR, creds, options=OPTIONS), []
    creds = grpc.ssl_channel_credentials(ca)
    return grpc.secure_channel(ADDR, creds, options=OPTIONS), [("authorization", "Bearer " + os.environ["CCMUX_GRPC_TOKEN"])]


def check(cond, what):
    if not cond:
        print("FAILED: " + what, flush=True)
        sys.exit(1)
    print("ok: " + what, flush=True)


class Connect:
    """One Events.Connect stream: requests go up through a queue, everything that comes down
    is sorted into replies (by id), events and approvals by a reader thread."""

    def __init__(self, stub, md):
        self.up = queue.Queue()
        self.replies, self.events, self.approvals = {}, [], []
        self.cv = threading.Condition()
        self.next_id = 1
        self.call = stub.Connect(iter(self.up.get, None), metadata=md)
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        try:
            for m in self.call:
                with self.cv:
                    kind = m.WhichOneof("body")
                    if kind == "reply":
                        self.replies[m.reply.id] = m.reply
                    elif kind == "event":
                        self.events.append(m.event)
                    elif kind == "approval_requested":
                        self.approvals.append(m.approval_requested)
                    self.cv.notify_all()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                print("connect stream ended: %s %s" % (e.code(), e.details()), flush=True)

    def request(self, **body):
        with self.cv:
            rid = self.next_id
            self.next_id += 1
        self.up.put(events_pb2.ClientMessage(id=rid, **body))
        reply = self.wait(lambda: self.replies.get(rid), "reply to request %d" % rid)
        if reply.WhichOneof("outcome") == "error":
            raise RuntimeError("%s: %s" % (reply.error.code, reply.error.message))
        return json.loads(reply.result_json or b"{}")

    def wait(self, pred, what, timeout=TIMEOUT):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.time()
                if left <= 0:
                    check(False, "waiting for " + what)
                self.cv.wait(left)

    def kinds(self, kind):
        return [e for e in self.events if e.kind == kind]

    def close(self):
        self.up.put(None)
        self.call.cancel()


def main():
    ch, md = channel()
    grpc.channel_ready_future(ch).result(timeout=30)

    health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    check(health.status == health_pb2.HealthCheckResponse.SERVING, "health says SERVING")
    refl = reflection_pb2_grpc.ServerReflectionStub(ch)
    names = []
    for r in refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10):
        names = [s.name for s in r.list_services_response.service]
    check({"ccmux.v1.Sessions", "ccmux.v1.Events", "ccmux.v1.Approvals", "ccmux.v1.Machine"} <= set(names),
          "reflection lists the ccmux.v1 services: %s" % names)

    machine = machine_pb2_grpc.MachineStub(ch)
    info = machine.Info(machine_pb2.InfoRequest(), metadata=md, timeout=10)
    check(info.version != "" and info.protocol == 1 and info.api == "ccmux.v1", "Info: ccmuxd %s as %s" % (info.version, info.identity))
    check(any(p.name == "transport-grpc" for p in info.plugins), "Info lists transport-grpc")

    sessions = sessions_pb2_grpc.SessionsStub(ch)
    s = sessions.New(sessions_pb2.NewSessionRequest(cwd=PROJECT, prompt=common_pb2.Prompt(text="echo: partial text over grpc")),
                     metadata=md, timeout=30)
    check(s.id.startswith("s-"), "New started " + s.id)

    c = Connect(events_pb2_grpc.EventsStub(ch), md)
    c.request(watch_approvals=approvals_pb2.WatchApprovalsRequest())
    sub = c.request(subscribe=events_pb2.SubscribeRequest(session=s.id, from_seq=1))
    check(sub.get("session") == s.id, "subscribed from seq 1 (head %s)" % sub.get("head"))

    def text_deltas():
        out = ""
        for e in c.kinds("stream_event"):
            p = json.loads(e.payload)
            d = p.get("event", {}).get("delta", {})
            if d.get("type") == "text_delta":
                out += d.get("text", "")
        return out

    c.wait(lambda: len(c.kinds("result")) >= 1, "the first turn's result")
    check(text_deltas() == "partial text over grpc", "partial text streamed: %r" % text_deltas())

    # An approval, answered on the same stream; the caller checks the file on disk.
    cmd = json.dumps({"command": "echo approved-over-grpc > grpc.txt", "description": "test"})
    c.request(send=sessions_pb2.SendRequest(session=s.id, prompt=common_pb2.Prompt(text="tool: Bash " + cmd)))
    a = c.wait(lambda: next((x for x in c.approvals if x.session == s.id and x.kind == "tool"), None), "approval_requested")
    check(a.tool == "Bash" and json.loads(a.input)["command"].startswith("echo approved-over-grpc"), "approval for Bash arrived")
    r = c.request(answer=approvals_pb2.AnswerRequest(id=a.id, decision="allow", by="python"))
    check(r.get("status") == "resolved", "answer resolved the approval")
    c.wait(lambda: len(c.kinds("result")) >= 2, "the approved turn's result")

    # A question.
    q = {"questions": [{"question": "Which color?", "header": "Color", "multiSelect": False,
                        "options": [{"label": "red", "description": "warm"}, {"label": "blue", "description": "cool"}]}]}
    c.request(send=sessions_pb2.SendRequest(session=s.id, prompt=common_pb2.Prompt(text="tool: AskUserQuestion " + json.dumps(q))))
    qa = c.wait(lambda: next((x for x in c.approvals if x.kind == "question"), None), "a question")
    check(json.loads(qa.questions)[0]["question"] == "Which color?", "the question arrived")
    r = c.request(answer=approvals_pb2.AnswerRequest(id=qa.id, decision="allow", answers={"Which color?": "blue"}))
    check(r.get("status") == "resolved", "question answered")
    c.wait(lambda: len(c.kinds("result")) >= 3, "the question turn's result")
    users = "".join(e.payload.decode() for e in c.kinds("user"))
    check("blue" in users, "claude got the answer 'blue'")

    # An image, as raw bytes in a typed prompt (unary Send this time).
    sent = sessions.Send(sessions_pb2.SendRequest(session=s.id, prompt=common_pb2.Prompt(
        text="echo: saw the picture", images=[common_pb2.Image(media_type="image/png", data=PNG)])), metadata=md, timeout=10)
    check(sent.prompt_id > 0, "image prompt queued (id %d)" % sent.prompt_id)
    c.wait(lambda: len(c.kinds("result")) >= 4, "the image turn's result")

    seqs = [e.seq for e in c.events]
    check(seqs == list(range(1, len(seqs) + 1)), "Connect got seq 1..%d once each, in order" % len(seqs))
    last = seqs[-1]
    c.close()

    # Reconnect from a seq in the middle: Subscribe from last-5 gets last-5..last, no gap and no
    # duplicate; then a new turn's events follow live.
    start = last - 5
    got, head = [], None
    stream = events_pb2_grpc.EventsStub(ch).Subscribe(events_pb2.SubscribeRequest(session=s.id, from_seq=start), metadata=md)
    done = threading.Event()

    def follow():
        nonlocal head
        try:
            for u in stream:
                if u.WhichOneof("update") == "subscribed":
                    head = u.subscribed.head
                else:
                    got.append(u.event)
                    if u.event.kind == "result" and u.event.seq > last:
                        done.set()
        except grpc.RpcError:
            done.set()

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.5)
    sessions.Send(sessions_pb2.SendRequest(session=s.id, prompt=common_pb2.Prompt(text="echo: after the reconnect")),
                  metadata=md, timeout=10)
    check(done.wait(TIMEOUT), "the live turn after the reconnect finished")
    stream.cancel()
    rs = [e.seq for e in got]
    check(head is not None and head >= last, "subscribed message first (head %s)" % head)
    check(rs == list(range(start, rs[-1] + 1)), "reconnect from seq %d: %d..%d once each, in order" % (start, start, rs[-1]))
    check(rs[-1] > last, "live events followed the replay")

    # Errors come back as gRPC statuses with our code in the trailer.
    try:
        sessions.Get(common_pb2.SessionRef(session="s-00000000"), metadata=md, timeout=10)
        check(False, "Get of an unknown session fails")
    except grpc.RpcError as e:
        code = dict(e.trailing_metadata() or ()).get("ccmux-error-code")
        check(e.code() == grpc.StatusCode.NOT_FOUND and code == "not_found", "unknown session: NOT_FOUND / not_found")

    # A generic call reaches a plugin's method list.
    r = machine.Call(events_pb2.CallRequest(method="methods.list"), metadata=md, timeout=10)
    check(any(m["name"] == "session.new" for m in json.loads(r.result_json)["methods"]), "Call(methods.list) answers")
    print("GRPC CLIENT PASSED", flush=True)


if __name__ == "__main__":
    main()
