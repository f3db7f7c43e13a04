# SPDX-License-Identifier: Apache-2.0
# Prepares the OpenStack Swift servers for image/tests/swift_store.rs (the Swift-API image
# store against a real one-replica Swift on loopback). The servers come from the same pinned
# venv `venv-swift` that scripts/test-env/swift-ring.sh prepares; this script only makes sure
# the server entry points are there (installing the pinned Swift if the venv is missing) and
# that a temp filesystem supports the user xattrs Swift's object server needs. The test itself
# builds the rings, writes the configs and starts/stops the servers on random loopback ports.
# Idempotent and quick when ready. Sourced by scripts/test.sh; also runnable on its own:
# `bash scripts/test-env/swift-server.sh`.
(
  set -euo pipefail
  SWIFT_VERSION=2.38.3
  cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
  venv="$cache/venv-swift"
  ready() {
    [ -x "$venv/bin/swift-proxy-server" ] && [ -x "$venv/bin/swift-object-server" ] &&
      [ -x "$venv/bin/swift-container-server" ] && [ -x "$venv/bin/swift-account-server" ] &&
      [ -x "$venv/bin/swift-ring-builder" ] &&
      "$venv/bin/python" -c 'import swift.proxy.server, swift.common.middleware.tempauth, swift.common.middleware.slo' 2>/dev/null
  }
  if ! ready; then
    mkdir -p "$cache"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet "swift==$SWIFT_VERSION"
    ready
  fi
  # Swift keeps object metadata in user xattrs; the test uses $TMPDIR or /dev/shm.
  ok=''
  for d in "${TMPDIR:-/tmp}" /dev/shm; do
    if [ -d "$d" ] && "$venv/bin/python" -c 'import os,sys,tempfile
f=tempfile.NamedTemporaryFile(dir=sys.argv[1]); os.setxattr(f.name,"user.t",b"x"*200)' "$d" 2>/dev/null; then
      ok="$d"
      break
    fi
  done
  if [ -z "$ok" ]; then
    echo "swift servers: no temp filesystem with user xattrs (tried ${TMPDIR:-/tmp}, /dev/shm); swift_store tests will skip" >&2
  else
    echo "swift servers $("$venv/bin/python" -c 'import swift; print(swift.__version__)'): ready in $venv (devices on $ok)"
  fi
)
