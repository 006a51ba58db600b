#!/usr/bin/env python3
"""A minimal Python hook: stdin JSON -> POST to the local server -> print its answer."""
import sys, urllib.request
data = sys.stdin.buffer.read()
req = urllib.request.Request(sys.argv[1], data=data, headers={"Content-Type": "application/json"})
sys.stdout.write(urllib.request.urlopen(req, timeout=5).read().decode() + "\n")
