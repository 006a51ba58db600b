#!/usr/bin/env python3
"""Sends one GitLab webhook delivery, as GitLab does: POST with X-Gitlab-Token, X-Gitlab-Event
and X-Gitlab-Event-UUID; prints the HTTP status and the answer's body.
usage: send_hook.py URL SECRET EVENT [FILE]   (the JSON body from FILE, else stdin; SECRET "" sends no token)
e.g.   send_hook.py http://127.0.0.1:8091/gitlab/webhook s3cret "Note Hook" note.json"""
import sys, urllib.error, urllib.request, uuid

url, secret, event = sys.argv[1:4]
body = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else sys.stdin.buffer.read()
headers = {"Content-Type": "application/json", "X-Gitlab-Event": event, "X-Gitlab-Event-UUID": str(uuid.uuid4()),
           "User-Agent": "GitLab/17.0.0"}
if secret:
    headers["X-Gitlab-Token"] = secret
req = urllib.request.Request(url, data=body, headers=headers, method="POST")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
    sys.exit(1)
