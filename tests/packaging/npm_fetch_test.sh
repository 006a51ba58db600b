#!/usr/bin/env bash
# npm_fetch (packaging/npm-tools.sh) against a registry served on loopback: a tarball whose
# SHA-512 matches is unpacked; one that does not match is refused and leaves the destination
# as it was; a missing package is a clear error. Usage: npm_fetch_test.sh SOURCE_DIR
set -euo pipefail
src="$1"
# shellcheck source=../../packaging/npm-tools.sh
source "$src/packaging/npm-tools.sh"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A registry layout: <registry>/@scope/name/-/name-1.0.0.tgz holding package/bin/tool.
mkdir -p "$work/pkg/package/bin" "$work/registry/@test/tool/-"
echo "#!/bin/sh" > "$work/pkg/package/bin/tool"
tar -czf "$work/registry/@test/tool/-/tool-1.0.0.tgz" -C "$work/pkg" package
good="$(sha512sum "$work/registry/@test/tool/-/tool-1.0.0.tgz" | cut -d' ' -f1)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/registry" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
export npm_config_registry="http://127.0.0.1:$port/"

npm_fetch @test/tool 1.0.0 "$good" "$work/dest" || fail "a tarball with the pinned hash was refused"
[ -f "$work/dest/bin/tool" ] || fail "the package was not unpacked into the destination"

echo "keep" > "$work/dest/marker"
bad="$(printf '%0128d' 0)"
if npm_fetch @test/tool 1.0.0 "$bad" "$work/dest" 2>"$work/err"; then fail "a tarball with another hash was accepted"; fi
grep -q "does not match its pinned SHA-512" "$work/err" || fail "no clear message for a wrong hash: $(cat "$work/err")"
[ -f "$work/dest/marker" ] || fail "a refused tarball changed the destination"

if npm_fetch @test/missing 1.0.0 "$good" "$work/missing" 2>"$work/err"; then fail "a missing package was reported as fetched"; fi
grep -q "could not download @test/missing@1.0.0" "$work/err" || fail "no clear message for a missing package: $(cat "$work/err")"
[ ! -e "$work/missing" ] || fail "a failed download left a destination behind"
echo "npm_fetch: pinned hash unpacked, wrong hash refused, missing package reported"
