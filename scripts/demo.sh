#!/usr/bin/env bash
# The README's main job (via `make demo`): install, train an FM on MovieLens-100k, export it, start the
# server on the embedded default (in-process embeddings, no Redis), score real test-split records over
# HTTP, print the response, then stop the server. KEEP_SERVING=1 leaves it running in the foreground.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
fetch_movielens

port="${CTR_PORT:-8000}"
url="http://127.0.0.1:$port"
# Before anything else: a server already listening there would answer our requests instead of ours.
if ! python -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
  echo "make demo: error: port $port on 127.0.0.1 is already in use; stop what listens there or set CTR_PORT=<free port>" >&2
  exit 1
fi

echo "==> training (ctr train --dataset datasets/ml100k.toml)"
ctr train --dataset datasets/ml100k.toml --out models > /dev/null
version="$(cat models/ml100k/ACTIVE)"

echo "==> serving models/ml100k/$version on $url"
ctr serve --model-dir models/ml100k --port "$port" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
ready=""
for _ in $(seq 150); do
  kill -0 $server 2>/dev/null || { echo "make demo: error: the server exited (see its log above)" >&2; exit 1; }
  # Ready means *our* server answers, with the version just trained.
  if python -c "import json,sys,urllib.request; sys.exit(json.load(urllib.request.urlopen('$url/readyz', timeout=1))['model_version'] != '$version')" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "make demo: error: the server did not become ready on $url" >&2; exit 1; }

echo "==> scoring test-split records (ctr score --file models/ml100k/$version/sample_request.json)"
ctr score --url "$url" --file "models/ml100k/$version/sample_request.json" --report-oov
echo "==> the same first record as a raw HTTP round trip (POST $url/v1/score):"
python - "$url" "models/ml100k/$version/sample_request.json" <<'PY'
import json, sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
body = json.dumps({"records": json.load(open(path))["records"][:1]}).encode()
req = urllib.request.Request(url + "/v1/score", data=body, headers={"content-type": "application/json"})
print(body.decode())
print(urllib.request.urlopen(req).read().decode())
PY
if [ "${KEEP_SERVING:-0}" = "1" ]; then
  echo "==> server left running on $url (Ctrl-C to stop)"
  trap - EXIT
  wait $server
fi
echo "==> done; server stopped"
