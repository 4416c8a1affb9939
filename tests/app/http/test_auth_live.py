"""Authentication on a real server process: revocation by editing the keys file while it serves, a version
promoted over HTTP, and no key ever in its logs (debug level) or its /metrics."""

import base64
import json
import shutil
import time
import urllib.error
import urllib.request

from app.security import keys as k
from cli import main
from load_tests.server import ServerProcess
from tests.app.redis_helpers import another_version


def call(url: str, headers: dict[str, str] | None = None, body: dict | None = None) -> tuple[int, bytes, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_revocation_promotion_and_no_key_in_logs_or_metrics(artifact_path, sample_records, tmp_path, capfd):
    model_dir = tmp_path / "models" / artifact_path.parent.name
    shutil.copytree(artifact_path.parent, model_dir)
    second = another_version(artifact_path, model_dir.parent, 1.5).name
    minted = {name: k.new_key() for name in ("ranker", "ops", "prometheus")}
    scopes = {"ranker": "score", "ops": "admin", "prometheus": "metrics"}
    keys = tmp_path / "keys.toml"
    k.write_keys(keys, [k.ApiKey(n, k.digest(key), frozenset({scopes[n]}), k.now()) for n, key in minted.items()])
    wrong = k.new_key()
    env = {"CTR_MODEL_DIR": str(model_dir), "CTR_API_KEYS_FILE": str(keys), "CTR_LOG_LEVEL": "debug",
           "CTR_LOG_FORMAT": "json", "CTR_DRAIN_SECONDS": "0"}  # fmt: skip
    score = {"records": sample_records[:2]}
    seen: list[bytes] = []
    with ServerProcess(env) as server:
        url = server.url
        attempts = [
            ({"authorization": f"Bearer {minted['ranker']}"}, 200),
            ({"x-api-key": minted["ranker"]}, 200),
            ({"authorization": f"Bearer {wrong}"}, 401),
            ({"authorization": f"Token {minted['ranker']}"}, 401),  # the key in a header of the wrong shape
            ({"authorization": minted["ranker"]}, 401),
            ({"authorization": "Basic " + base64.b64encode(f"u:{minted['ranker']}".encode()).decode()}, 401),
            ({"x-api-token": minted["ranker"]}, 401),
            ({"authorization": f"Bearer {minted['prometheus']}"}, 403),
        ]
        for headers, status in attempts:
            got, body, answer_headers = call(f"{url}/v1/score", headers, score)
            assert got == status, (headers, body)
            seen += [body, json.dumps(answer_headers).encode()]
        got, body, _ = call(f"{url}/v1/score?api_key={minted['ranker']}", None, score)  # never read from a URL
        assert got == 401

        # an admin promotes a version over HTTP: this server serves it when the answer comes
        admin = {"authorization": f"Bearer {minted['ops']}"}
        got, body, _ = call(f"{url}/v1/admin/promote", admin, {"version": second, "reason": "live test"})
        assert got == 200 and json.loads(body)["serving"] == second, body
        assert json.loads(call(f"{url}/readyz")[1])["model_version"] == second

        # revocation: `ctr keys revoke` edits the file; the running server refuses the key within ~1 s
        assert main(["keys", "revoke", "ranker", "--file", str(keys)]) == 0
        revoked_at, took = time.monotonic(), None
        while time.monotonic() - revoked_at < 10:
            if call(f"{url}/v1/score", {"authorization": f"Bearer {minted['ranker']}"}, score)[0] == 401:
                took = time.monotonic() - revoked_at
                break
            time.sleep(0.05)
        assert took is not None and took < 5.0, took
        assert call(f"{url}/v1/admin/versions", admin)[0] == 200  # the others still work

        status, metrics, _ = call(f"{url}/metrics", {"authorization": f"Bearer {minted['prometheus']}"})
        assert status == 200
        assert b'ctr_auth_rejections_total{reason="unknown"}' in metrics
        seen.append(metrics)
    out, err = capfd.readouterr()
    logs = out + err
    assert '"level": "debug"' in logs and "keys file" in logs and "reloaded" in logs  # the logs were captured
    for secret in [*minted.values(), wrong]:
        assert secret not in logs, "a key was logged"
        assert all(secret.encode() not in blob for blob in seen), "a key was echoed or exported"
