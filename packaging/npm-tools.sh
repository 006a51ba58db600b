# Pinned packages taken straight from npm's registry, and the function that fetches them.
# Sourced by packaging/setup.sh and ccmux-install-claude; read by CMake (CLAUDE_VERSION) so
# `ccmux doctor` knows the pinned claude.
#
# Why tarballs and not `npm install`: Debian 12's nodejs is 18.20.4, while
# @anthropic-ai/claude-code 2.1.330 declares node >= 22 and playwright-core 1.65.1 refuses to
# run below 20. claude itself is a native executable (the npm package's postinstall only copies
# it out of the platform package @anthropic-ai/claude-code-linux-<arch>), so we take that
# executable directly and claude needs no Node at all. The page tests need a Node >= 20: a
# private one (node-linux-<arch>, the official build published on npm's registry) unpacked in
# the source tree's .test-tools/, which never touches a Node the user has. Every tarball is
# checked against the SHA-512 pinned here (npm's own `integrity`, in hex) before it is unpacked.

CLAUDE_VERSION=2.1.330
CLAUDE_SHA512_x64=f469fe57b0ed27c3359f3b4ff42783565f60dd1b6b7a923bace153c8f4519d97bc0facde6c81ca982ecebc16aeb9cb803f45f493ce520cdfcb3d56728ec19ecd
CLAUDE_SHA512_arm64=578c9a9c0639100e54a70c113ed8d27ea0db36a0255097959f7358670d808264478dda52b0bb470336f14577e40276e3c135f3134b9e763431518d360113dcb0
TEST_NODE_VERSION=22.23.5
TEST_NODE_SHA512_x64=de3842fb07285b1299c5c46a176b144a5d1cf47117167babfe7b883f1e8ee8258a5748ce516426ec7b70e52b97aaa94c084862d1c26ac9b14f11be6185c06233
TEST_NODE_SHA512_arm64=7b52ce506295aee3c6b8b56eb67f3e0a09b9a48d403e6e0abe1fb36dbfea7bf6690fdb3e4d06f2e6252064e5a63e96d22a98f44ddf033f53743449d76ac1e2ce
PLAYWRIGHT_VERSION=1.65.1
PLAYWRIGHT_SHA512=86a3e9cfb6e548c3f1595768784d728814b35ec2a254e77693e9230af994cb00f618f3b60ddf477dc5a7abd34dd061db3590c5819f497c116bf97e7f04ba34ab

# npm's names for this machine's CPU (x64, arm64); empty when npm has no build for it.
npm_arch() {
  case "$(uname -m)" in
    x86_64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "" ;;
  esac
}

# The registry: $npm_config_registry (npm's own variable) or npm's default. The machine's CA
# store is used (curl), so a proxy CA installed under /usr/local/share/ca-certificates works.
npm_registry() { echo "${npm_config_registry:-https://registry.npmjs.org}" | sed 's:/*$::'; }

# npm_fetch NAME VERSION SHA512HEX DEST: download NAME@VERSION's tarball, check its SHA-512,
# unpack its `package/` folder into DEST (replaced whole, so a half-finished earlier try is
# never used).
npm_fetch() {
  local name="$1" version="$2" sha="$3" dest="$4"
  local base="${name##*/}" tmp
  command -v curl >/dev/null || { echo "npm_fetch: curl is needed (apt-get install curl)" >&2; return 1; }
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  echo "== npm registry: $name@$version"
  curl -sSfL --retry 3 -o "$tmp/pkg.tgz" "$(npm_registry)/$name/-/$base-$version.tgz" || {
    echo "npm_fetch: could not download $name@$version from $(npm_registry)" >&2
    return 1
  }
  echo "$sha  $tmp/pkg.tgz" | sha512sum -c --status || {
    echo "npm_fetch: $name@$version does not match its pinned SHA-512; refusing to unpack it" >&2
    return 1
  }
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/pkg.tgz" -C "$tmp/x" --no-same-owner
  mkdir -p "$(dirname "$dest")"
  rm -rf "$dest.new"
  mv "$tmp/x/package" "$dest.new"
  rm -rf "$dest"
  mv "$dest.new" "$dest"
}
