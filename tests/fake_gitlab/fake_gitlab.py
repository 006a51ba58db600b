#!/usr/bin/env python3
"""A fake GitLab REST v4 API on 127.0.0.1 for the gitlab plugin's tests.

Speaks the documented JSON (docs.gitlab.com/ee/api/) of the calls the plugin makes, under
/api/v4, and checks the PRIVATE-TOKEN header (401 {"message": "401 Unauthorized"} otherwise):
  GET  /projects/:id                                 (:id numeric or URL-encoded path)
  GET  /projects/:id/merge_requests                  (state, source_branch, target_branch, per_page)
  POST /projects/:id/merge_requests                  (409 when an open MR has the source branch)
  GET  /projects/:id/merge_requests/:iid             and .../diffs (page, per_page), .../changes (deprecated)
  GET  /projects/:id/merge_requests/:iid/notes       POST the same (body) -> 201
  GET  /projects/:id/issues, /issues/:iid, GET|POST /issues/:iid/notes
  GET  /projects/:id/pipelines                       (ref, per_page; newest first)
  GET  /projects/:id/pipelines/:pid/jobs             (scope[]=failed)
  GET  /projects/:id/jobs/:job_id/trace              (text/plain)
  GET  /user                                         (the token's user: ccmux-bot, id 99, who writes every note posted)
  GET  /users?username=U
  GET  /groups/:id/members/all/:uid, /projects/:id/members/all/:uid (404 when not a member)

Test control (no token):
  POST /control/seed   {"projects":[{id, path_with_namespace, ...}], "merge_requests":[{project_id, iid, ...,
                        "changes":[...]}], "issues":[...], "pipelines":[{project_id, id, ..., "jobs":[{id, name,
                        status, stage, "trace": "..." or "trace_hex": "hex bytes"}]}], "users":[{id, username}], "group_members":{"grp":[uid]},
                        "project_members":{"5":[uid]}, "access_levels":{"uid": 10} (default 30), "notes":[{project_id, noteable:"merge_requests"|"issues",
                        iid, body, author_id?}]}   (adds to what is there)
  POST /control/fault  {"method":"POST"|"GET"|"*", "path":"substring of the API path", "count":N,
                        "status":429|500|..., "retry_after":1, "retry_after_in":N (an HTTP-date N s ahead), "after":true (process the request, then fail),
                        "hang":SECONDS (answer nothing for that long, then close), "body":{...} (answer this
                        2xx JSON instead: wrong types etc.), "message":"..." (the error's text)}  the next N matching requests fail so
  POST /control/reset  forget everything (data, faults, calls)
  GET  /control/calls  every API call: [{t, method, path, query, status, body}]
  GET  /control/notes  every note there is: [{project_id, noteable, iid, id, body, author}]
Usage: fake_gitlab.py TOKEN -> prints "PORT <n>"."""
import email.utils, http.server, json, sys, threading, time, urllib.parse

TOKEN = sys.argv[1] if len(sys.argv) > 1 else "glpat-test"
lock = threading.Lock()


def fresh_state():
    return {"projects": {}, "mrs": {}, "issues": {}, "pipelines": {}, "jobs": {}, "notes": {}, "users": {},
            "group_members": {}, "project_members": {}, "access_levels": {}, "faults": [], "calls": [], "next_id": 1000}


S = fresh_state()
BOT = {"id": 99, "username": "ccmux-bot", "name": "ccmux bot"}


def next_id():
    S["next_id"] += 1
    return S["next_id"]


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def find_project(ref):
    if ref.isdigit():
        return S["projects"].get(int(ref))
    for p in S["projects"].values():
        if p["path_with_namespace"].lower() == ref.lower():
            return p
    return None


def user_obj(uid):
    u = S["users"].get(uid)
    return {"id": uid, "username": u["username"], "name": u.get("name", u["username"])} if u else dict(BOT)


def seed(b):
    for p in b.get("projects", []):
        p = dict(p)
        p.setdefault("web_url", "http://gitlab.example/" + p["path_with_namespace"])
        p.setdefault("default_branch", "main")
        p.setdefault("http_url_to_repo", p["web_url"] + ".git")
        S["projects"][p["id"]] = p
    for u in b.get("users", []):
        S["users"][u["id"]] = dict(u)
    for m in b.get("merge_requests", []):
        m = dict(m)
        m.setdefault("id", next_id())
        m.setdefault("state", "opened")
        m.setdefault("description", "")
        m.setdefault("sha", "0" * 40)
        m.setdefault("changes", [])
        m.setdefault("author", dict(BOT))
        m.setdefault("source_project_id", m["project_id"])
        m.setdefault("target_project_id", m["project_id"])
        proj = S["projects"].get(m["project_id"], {"web_url": "http://gitlab.example/p"})
        m.setdefault("web_url", "%s/-/merge_requests/%d" % (proj["web_url"], m["iid"]))
        S["mrs"].setdefault(m["project_id"], {})[m["iid"]] = m
    for i in b.get("issues", []):
        i = dict(i)
        i.setdefault("id", next_id())
        i.setdefault("state", "opened")
        i.setdefault("description", "")
        i.setdefault("author", dict(BOT))
        proj = S["projects"].get(i["project_id"], {"web_url": "http://gitlab.example/p"})
        i.setdefault("web_url", "%s/-/issues/%d" % (proj["web_url"], i["iid"]))
        S["issues"].setdefault(i["project_id"], {})[i["iid"]] = i
    for pl in b.get("pipelines", []):
        pl = dict(pl)
        jobs = pl.pop("jobs", [])
        pl.setdefault("status", "failed")
        pl.setdefault("ref", "main")
        pl.setdefault("sha", "0" * 40)
        pl.setdefault("source", "merge_request_event")
        pl.setdefault("created_at", now_iso())
        proj = S["projects"].get(pl["project_id"], {"web_url": "http://gitlab.example/p"})
        pl.setdefault("web_url", "%s/-/pipelines/%d" % (proj["web_url"], pl["id"]))
        pl["job_ids"] = []
        for j in jobs:
            j = dict(j)
            j.setdefault("stage", "test")
            j.setdefault("status", "failed")
            j.setdefault("allow_failure", False)
            j.setdefault("trace", "")
            if "trace_hex" in j:  # exact bytes (a log may hold bytes that are not UTF-8)
                j["trace_bytes"] = bytes.fromhex(j.pop("trace_hex"))
            j.setdefault("web_url", "%s/-/jobs/%d" % (proj["web_url"], j["id"]))
            j["project_id"] = pl["project_id"]
            S["jobs"][j["id"]] = j
            pl["job_ids"].append(j["id"])
        S["pipelines"].setdefault(pl["project_id"], {})[pl["id"]] = pl
    for g, uids in b.get("group_members", {}).items():
        S["group_members"].setdefault(str(g), set()).update(uids)
    for p, uids in b.get("project_members", {}).items():
        S["project_members"].setdefault(str(p), set()).update(uids)
    for uid, level in b.get("access_levels", {}).items():
        S["access_levels"][int(uid)] = level
    for n in b.get("notes", []):
        add_note(n["project_id"], n["noteable"], n["iid"], n["body"], n.get("author_id"))


def add_note(pid, noteable, iid, body, author_id=None):
    note = {"id": next_id(), "body": body, "system": False, "created_at": now_iso(), "noteable_type":
            "MergeRequest" if noteable == "merge_requests" else "Issue", "noteable_iid": iid,
            "author": user_obj(author_id) if author_id else dict(BOT)}
    S["notes"].setdefault((pid, noteable, iid), []).append(note)
    return note


def public(obj, drop=("changes", "job_ids", "trace", "trace_bytes", "jobs")):
    return {k: v for k, v in obj.items() if k not in drop}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, payload, ctype="application/json", headers=()):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length", 0) or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return None

    def log_message(self, *a):
        pass

    # ---- control ----
    def control(self, method, path, body):
        with lock:
            if path == "/control/seed" and method == "POST":
                seed(body or {})
                return self.send(200, {"ok": True})
            if path == "/control/fault" and method == "POST":
                f = dict(body or {})
                f.setdefault("method", "*")
                f.setdefault("path", "")
                f.setdefault("count", 1)
                S["faults"].append(f)
                return self.send(200, {"ok": True})
            if path == "/control/reset" and method == "POST":
                S.clear()
                S.update(fresh_state())
                return self.send(200, {"ok": True})
            if path == "/control/calls":
                return self.send(200, S["calls"])
            if path == "/control/notes":
                out = []
                for (pid, noteable, iid), notes in S["notes"].items():
                    for n in notes:
                        out.append({"project_id": pid, "noteable": noteable, "iid": iid, "id": n["id"],
                                    "body": n["body"], "author": n["author"]["username"]})
                return self.send(200, out)
        self.send(404, {"message": "no such control endpoint"})

    # ---- API ----
    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body() if method == "POST" else {}
        if url.path.startswith("/control/"):
            return self.control(method, url.path, body)
        if not url.path.startswith("/api/v4/"):
            return self.send(404, {"message": "404 Not Found"})
        api_path = url.path[len("/api/v4"):]
        query = urllib.parse.parse_qs(url.query)
        q = {k: v[0] for k, v in query.items()}
        call = {"t": time.time(), "method": method, "path": api_path, "query": q, "body": body}
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            call["status"] = 401
            with lock:
                S["calls"].append(call)
            return self.send(401, {"message": "401 Unauthorized"})
        fault = None
        with lock:
            for f in S["faults"]:
                if f["count"] > 0 and f["method"] in ("*", method) and f["path"] in api_path:
                    f["count"] -= 1
                    fault = dict(f)
                    break
        if fault and "hang" in fault:
            call["status"] = "hang"
            with lock:
                S["calls"].append(call)
            time.sleep(float(fault["hang"]))
            self.close_connection = True
            return
        if fault and "body" in fault:
            call["status"] = 200
            with lock:
                S["calls"].append(call)
            return self.send(200, fault["body"])
        if fault and not fault.get("after"):
            return self.fail(call, fault)
        with lock:
            status, payload, ctype = self.route(method, api_path, q, query, body)
            call["status"] = status
            if not (fault and fault.get("after")):
                S["calls"].append(call)
        if fault:  # processed, then failed: the ambiguous case a client must not double
            return self.fail(call, fault)
        self.send(status, payload, ctype)

    def fail(self, call, fault):
        status = int(fault.get("status", 500))
        call["status"] = status
        with lock:
            S["calls"].append(call)
        headers = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
        if "retry_after_in" in fault:  # the HTTP-date form, N seconds from now
            headers = [("Retry-After", email.utils.formatdate(time.time() + fault["retry_after_in"], usegmt=True))]
        msg = fault.get("message") or {429: "429 Too Many Requests", 500: "500 Internal Server Error",
                                       502: "502 Bad Gateway", 503: "503 Service Unavailable"}.get(status, "%d fault" % status)
        self.send(status, {"message": msg}, headers=headers)

    def route(self, method, path, q, query, body):
        # Split before decoding: "group%2Fapp" is one segment.
        seg = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
        nf = (404, {"message": "404 Not found"}, "application/json")
        if seg == ["user"] and method == "GET":  # the token's own user
            return 200, dict(BOT), "application/json"
        if seg == ["users"] and method == "GET":
            name = q.get("username", "").lower()
            return 200, [user_obj(uid) for uid, u in S["users"].items() if u["username"].lower() == name], "application/json"
        if len(seg) == 5 and seg[0] == "groups" and seg[2:4] == ["members", "all"] and method == "GET":
            uid = int(seg[4]) if seg[4].isdigit() else -1
            if uid in S["group_members"].get(seg[1], set()):
                u = user_obj(uid)
                u.update({"state": "active", "access_level": S["access_levels"].get(uid, 30)})
                return 200, u, "application/json"
            return 404, {"message": "404 Not found"}, "application/json"
        if not seg or seg[0] != "projects" or len(seg) < 2:
            return nf
        p = find_project(seg[1])
        if not p:
            return 404, {"message": "404 Project Not Found"}, "application/json"
        pid, rest = p["id"], seg[2:]
        per_page = int(q.get("per_page", "20") or 20)
        if rest == [] and method == "GET":
            return 200, p, "application/json"
        if rest[:2] == ["members", "all"] and len(rest) == 3 and method == "GET":
            uid = int(rest[2]) if rest[2].isdigit() else -1
            if uid in S["project_members"].get(str(pid), set()) or uid in S["project_members"].get(p["path_with_namespace"], set()):
                u = user_obj(uid)
                u.update({"state": "active", "access_level": S["access_levels"].get(uid, 30)})
                return 200, u, "application/json"
            return 404, {"message": "404 Not found"}, "application/json"
        if rest and rest[0] in ("merge_requests", "issues"):
            kind = rest[0]
            table = S["mrs" if kind == "merge_requests" else "issues"].setdefault(pid, {})
            if len(rest) == 1 and method == "GET":
                rows = sorted(table.values(), key=lambda r: -r["iid"])
                if "state" in q:
                    rows = [r for r in rows if r["state"] == q["state"]]
                for key in ("source_branch", "target_branch"):
                    if key in q:
                        rows = [r for r in rows if r.get(key) == q[key]]
                return 200, [public(r) for r in rows[:per_page]], "application/json"
            if len(rest) == 1 and method == "POST" and kind == "merge_requests":
                if body is None or not all(isinstance(body.get(k), str) and body.get(k) for k in ("source_branch", "target_branch", "title")):
                    return 400, {"message": "source_branch, target_branch, title are missing"}, "application/json"
                for r in table.values():
                    if r["state"] == "opened" and r["source_branch"] == body["source_branch"]:
                        return 409, {"message": ["Another open merge request already exists for this source branch: !%d" % r["iid"]]}, "application/json"
                iid = max(table.keys(), default=0) + 1
                seed({"merge_requests": [{"project_id": pid, "iid": iid, "title": body["title"],
                                          "description": body.get("description", ""), "source_branch": body["source_branch"],
                                          "target_branch": body["target_branch"]}]})
                return 201, public(table[iid]), "application/json"
            if len(rest) >= 2 and rest[1].isdigit():
                obj = table.get(int(rest[1]))
                if not obj:
                    return 404, {"message": "404 Not found"}, "application/json"
                if len(rest) == 2 and method == "GET":
                    return 200, public(obj), "application/json"
                if rest[2:] == ["diffs"] and method == "GET" and kind == "merge_requests":
                    page = int(q.get("page", "1") or 1)
                    return 200, obj["changes"][(page - 1) * per_page:page * per_page], "application/json"
                if rest[2:] == ["changes"] and method == "GET" and kind == "merge_requests":
                    out = public(obj)
                    out["changes"] = obj["changes"]
                    out["overflow"] = False
                    return 200, out, "application/json"
                if rest[2:] == ["notes"]:
                    notes = S["notes"].setdefault((pid, kind, obj["iid"]), [])
                    if method == "GET":
                        rows = list(reversed(notes)) if q.get("sort", "desc") == "desc" else list(notes)
                        return 200, rows[:per_page], "application/json"
                    if method == "POST":
                        if body is None or not isinstance(body.get("body"), str) or not body["body"]:
                            return 400, {"message": "body is missing"}, "application/json"
                        return 201, add_note(pid, kind, obj["iid"], body["body"]), "application/json"
            return nf
        if rest and rest[0] == "pipelines" and method == "GET":
            table = S["pipelines"].setdefault(pid, {})
            if len(rest) == 1:
                rows = sorted(table.values(), key=lambda r: -r["id"])
                if "ref" in q:
                    rows = [r for r in rows if r["ref"] == q["ref"]]
                return 200, [public(r) for r in rows[:per_page]], "application/json"
            if len(rest) == 3 and rest[1].isdigit() and rest[2] == "jobs":
                pl = table.get(int(rest[1]))
                if not pl:
                    return 404, {"message": "404 Not found"}, "application/json"
                scope = query.get("scope[]", []) + query.get("scope", [])
                jobs = [public(S["jobs"][j]) for j in pl["job_ids"]]
                if scope:
                    jobs = [j for j in jobs if j["status"] in scope]
                return 200, jobs, "application/json"
            return nf
        if len(rest) == 3 and rest[0] == "jobs" and rest[1].isdigit() and rest[2] == "trace" and method == "GET":
            job = S["jobs"].get(int(rest[1]))
            if not job or job["project_id"] != pid:
                return 404, {"message": "404 Not found"}, "application/json"
            return 200, job.get("trace_bytes") or job["trace"].encode(), "text/plain"
        return nf

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
