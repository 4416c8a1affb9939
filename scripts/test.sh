#!/usr/bin/env bash
# The README's test command (via `make test`); .ci/run calls exactly this.
# Extra arguments go to pytest, e.g. `./scripts/test.sh -m slow` or `./scripts/test.sh tests/app`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
fetch_movielens
ensure_redis
ensure_prometheus
echo "==> ruff"
ruff check .
echo "==> pytest"
exec python -m pytest "$@"
