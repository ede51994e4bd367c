#!/usr/bin/env bash
# Conformance of scim-server against independent checkers from PyPI:
#   - scim2-tester, through `scim2 test` (package scim2-cli)
#   - `scim-sanity probe` (package scim-sanity)
# Installs both into a venv under ~/.cache (once), builds and starts the server binary on a
# free loopback port with a bearer token, runs both checkers, stops the server, and exits
# non-zero if any check fails (other than the waived ones below).
#
# Usage: scim-server/tests/conformance.sh        (from anywhere inside the workspace)
#
# Coverage: scim2-tester checks every resource type /ResourceTypes lists, so it also runs its
# CRUD, filter and PATCH checks on /Roles (schema urn:parallelworks:...:core:2.0:Role);
# scim-sanity knows only Users and Groups. The server runs with --token alone, as before.
#
# Waived check (we believe the checker is wrong):
#   scim2-tester `check_add_attribute` on
#   `urn:coreweave:params:scim:schemas:extension:coreweave:2.0:CoreWeaveUser:sunkSshKeys`.
#   The checker PATCHes the same resource once per attribute path, in order. It first
#   `add`s the whole extension object (which sets sunkSshKeys to one random value), then
#   `add`s a second random value at `...:sunkSshKeys` and expects the result to equal only
#   the second value. RFC 7644 §3.5.2.1: "If the target location specifies a multi-valued
#   attribute, a new value is added to the attribute" — the server appends, so the result
#   holds both values. (Complex multi-valued attributes are not affected because the
#   checker compares them differently.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${SCIM_CONFORMANCE_VENV:-$HOME/.cache/scim-conformance-venv}"
token="conformance-$$-$RANDOM"

if [[ ! -x "$venv/bin/scim2" || ! -x "$venv/bin/scim-sanity" ]]; then
  echo "installing scim2-cli and scim-sanity into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "scim2-cli==0.6.0" "scim2-tester==0.5.2" "scim-sanity==0.7.4"
fi

(cd "$root" && cargo build --quiet -p scim-server-bin --bin scim-server)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/scim-server"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

SCIM_SERVER_TOKEN="$token" "$bin" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
base=""
for _ in $(seq 1 100); do
  base="$(sed -n 's/^scim-server listening on //p' "$work/server.out")"
  [[ -n "$base" ]] && break
  sleep 0.1
done
if [[ -z "$base" ]]; then
  echo "the server did not start:" >&2
  cat "$work/server.err" >&2
  exit 1
fi
echo "server at $base" >&2

failed=0

# --- scim2-tester -------------------------------------------------------------------------
set +e
SCIM_CLI_HEADERS="Authorization: Bearer $token" "$venv/bin/scim2" --url "$base" test >"$work/scim2.log" 2>&1
scim2_rc=$?
set -e
grep -cE '^SUCCESS' "$work/scim2.log" | sed 's/^/scim2-tester: successes: /' >&2
# every ERROR/CRITICAL line with the line after it (the reason), minus the waived check
errors="$(grep -A1 -E '^(ERROR|CRITICAL)' "$work/scim2.log" | grep -vE '^(--|ERROR|CRITICAL)' || true)"
unexpected="$(printf '%s\n' "$errors" | grep -v -E "PATCH modify\(\) returned unexpected value for 'urn:coreweave:params:scim:schemas:extension:coreweave:2\.0:CoreWeaveUser:sunkSshKeys'\." | grep -v '^$' || true)"
if [[ -n "$errors" ]]; then
  echo "scim2-tester: failures reported:" >&2
  printf '%s\n' "$errors" >&2
fi
if [[ -n "$unexpected" ]]; then
  echo "scim2-tester: FAILED (not waived):" >&2
  printf '%s\n' "$unexpected" >&2
  failed=1
elif [[ $scim2_rc -ne 0 && -z "$errors" ]]; then
  echo "scim2-tester: FAILED (exit $scim2_rc, no check named):" >&2
  tail -20 "$work/scim2.log" >&2
  failed=1
else
  echo "scim2-tester: OK (waived: CoreWeaveUser:sunkSshKeys add, see the header)" >&2
fi

# --- scim-sanity --------------------------------------------------------------------------
set +e
"$venv/bin/scim-sanity" probe "$base" --token "$token" --i-accept-side-effects >"$work/sanity.log" 2>&1
sanity_rc=$?
set -e
grep -E '^\s+[0-9]+ passed' "$work/sanity.log" | sed 's/^ */scim-sanity: /' >&2 || true
if [[ $sanity_rc -ne 0 ]]; then
  echo "scim-sanity: FAILED:" >&2
  grep -E '\[FAIL\]' -A1 "$work/sanity.log" >&2 || cat "$work/sanity.log" >&2
  failed=1
else
  echo "scim-sanity: OK" >&2
fi

if [[ $failed -ne 0 ]]; then
  echo "conformance: FAILED" >&2
  exit 1
fi
echo "conformance: OK"
