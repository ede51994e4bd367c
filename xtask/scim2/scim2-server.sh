#!/usr/bin/env bash
# Start a real, independent SCIM 2.0 server (PyPI: scim2-server, python-scim) on loopback,
# with the CoreWeave user extension (sunkSshKeys) registered, for integration tests and CI.
#
#   xtask/scim2/scim2-server.sh start PORT [TOKEN] [plain]   -> prints the base URL, e.g. http://127.0.0.1:PORT
#   xtask/scim2/scim2-server.sh stop PORT
#
# `plain` starts it without the CoreWeave extension: a SCIM server that is not CoreWeave.
#
# The server runs with --dynamic-tenants: every test picks its own tenant and gets an empty
# store at BASE/<tenant>/v2 (e.g. http://127.0.0.1:18080/t-1234/v2). Data is in memory only.
# Observed behaviour worth knowing: PATCH answers 204 with no body (200 only with ?attributes=),
# empty multi-valued attributes (members, sunkSshKeys) disappear from responses, a page without
# `count` is capped at 1000, results are ordered by id, externalId is not unique, group members
# are not checked for existence, discovery endpoints answer without a token.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${SCIM2_SERVER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/scim2-server-venv}
state=${TMPDIR:-/tmp}/scim2-server
cmd=${1:?usage: scim2-server.sh start|stop PORT [TOKEN] [plain]}
port=${2:?port}
token=${3:-testtoken}
flavour=${4:-coreweave}
mkdir -p "$state"

case $cmd in
start)
  if [[ ! -x $venv/bin/scim2-server ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'scim2-server==0.8.3'
  fi
  # the server's --schema/--resource-type replace its defaults: defaults + the CoreWeave extension
  "$venv/bin/python" - "$here/coreweave-user-extension.schema.json" "$state/$port" "$flavour" <<'PY'
import json, os, sys, scim2_server
ext = json.load(open(sys.argv[1]))
out = sys.argv[2]; os.makedirs(out, exist_ok=True)
res = os.path.join(os.path.dirname(scim2_server.__file__), "resources")
schemas = json.load(open(os.path.join(res, "default-schemas.json")))
types = json.load(open(os.path.join(res, "default-resource-types.json")))
if sys.argv[3] != "plain":
    schemas.append(ext)
    for t in types:
        if t["id"] == "User":
            t.setdefault("schemaExtensions", []).append({"schema": ext["id"], "required": False})
json.dump(schemas, open(os.path.join(out, "schemas.json"), "w"))
json.dump(types, open(os.path.join(out, "resource-types.json"), "w"))
PY
  "$venv/bin/scim2-server" --hostname 127.0.0.1 --port "$port" \
    --schema "$state/$port/schemas.json" --resource-type "$state/$port/resource-types.json" \
    --bearer-token "$token" --dynamic-tenants >"$state/$port/server.log" 2>&1 &
  echo $! >"$state/$port/pid"
  for _ in $(seq 1 100); do
    if curl -sf -o /dev/null "http://127.0.0.1:$port/ready/v2/ServiceProviderConfig"; then
      echo "http://127.0.0.1:$port"; exit 0
    fi
    sleep 0.1
  done
  echo "scim2-server did not start; log: $state/$port/server.log" >&2
  exit 1 ;;
stop)
  if [[ -f $state/$port/pid ]]; then kill "$(cat "$state/$port/pid")" 2>/dev/null || true; rm -f "$state/$port/pid"; fi ;;
*) echo "usage: scim2-server.sh start|stop PORT [TOKEN] [plain]" >&2; exit 2 ;;
esac
