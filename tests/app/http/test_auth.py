"""Authentication (CTR_API_KEYS_FILE): 401/403 in the one error body, scopes per endpoint, public paths,
the same answers on both ways in, the OpenAPI schema, and reloading the keys file without a restart."""

import time

import pytest

from app.main import create_app
from app.security import keys as k
from app.settings import Settings
from tests.app.conftest import post

SCOPED = ("score", "feedback", "admin", "metrics")


@pytest.fixture
def keys(tmp_path):
    """A keys file with one key per scope; returns (path, {scope: key})."""
    path = tmp_path / "keys.toml"
    minted = {scope: k.new_key() for scope in SCOPED}
    k.write_keys(path, [k.ApiKey(f"{s}-key", k.digest(key), frozenset({s}), k.now()) for s, key in minted.items()])
    return path, minted


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_off_by_default_no_gate_and_no_admin_endpoints(client, sample_records):
    assert post(client, {"records": sample_records[:1]}).status_code == 200
    assert client.get("/metrics").status_code == 200
    missing = client.post("/v1/admin/promote", json={"version": "x"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    schema = client.get("/openapi.json").json()
    assert "/v1/admin/promote" not in schema["paths"] and "securitySchemes" not in schema.get("components", {})


def test_401_without_a_usable_key_403_without_the_scope(make_client, keys, sample_records):
    path, minted = keys
    client = make_client(api_keys_file=path)
    body = {"records": sample_records[:1]}
    cases = [
        ({}, 401, "missing"),
        (bearer(k.new_key()), 401, "unknown"),
        ({"x-api-key": "not-a-key"}, 401, "unknown"),
        ({"authorization": f"Token {minted['score']}"}, 401, "malformed"),
        ({"authorization": "Bearer "}, 401, "malformed"),
        ({**bearer(minted["score"]), "x-api-key": minted["feedback"]}, 401, "malformed"),
        (bearer(minted["feedback"]), 403, "scope"),
    ]
    for headers, status, _reason in cases:
        response = post(client, body, headers)
        assert response.status_code == status, (headers, response.text)
        answer = response.json()
        assert set(answer) == {"error", "detail", "field"}
        assert answer["error"] == ("unauthorized" if status == 401 else "forbidden")
        assert answer["field"] in ("authorization", "x-api-key")
        assert ("www-authenticate" in response.headers) == (status == 401)
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert "lacks the 'score' scope" in post(client, body, bearer(minted["feedback"])).json()["detail"]
    assert post(client, body, bearer(minted["score"])).status_code == 200
    assert post(client, body, {"x-api-key": minted["score"]}).status_code == 200
    assert post(client, body, {"authorization": f"bearer  {minted['score']} "}).status_code == 200
    metrics = client.get("/metrics", headers=bearer(minted["metrics"])).text
    for reason, count in (("missing", 1), ("unknown", 2), ("malformed", 3), ("scope", 2)):
        assert f'ctr_auth_rejections_total{{reason="{reason}"}} {count}.0' in metrics
    assert 'ctr_http_requests_total{endpoint="/v1/score",method="POST",status="401"} 6.0' in metrics


# (method, path, body) -> the one scope that opens it (None: any valid key)
ENDPOINTS = [
    ("POST", "/v1/score", "score"),
    ("POST", "/v1/rank", "score"),
    ("POST", "/v1/feedback", "feedback"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/v1/admin/versions", "admin"),
    ("POST", "/v1/admin/promote", "admin"),
    ("POST", "/v1/admin/shadow", "admin"),
    ("GET", "/v1/model", None),
    ("GET", "/openapi.json", None),
    ("GET", "/no/such/path", None),
]


def test_each_endpoint_opens_to_its_scope_only(make_client, keys):
    path, minted = keys
    client = make_client(api_keys_file=path)
    for method, url, needed in ENDPOINTS:
        for scope, key in minted.items():
            status = client.request(method, url, content=b"{}", headers=bearer(key)).status_code
            allowed = needed is None or scope == needed
            assert (status not in (401, 403)) == allowed, (method, url, scope, status)
            if not allowed:
                assert status == 403
        assert client.request(method, url, content=b"{}").status_code == 401  # not even which paths exist
    for url in ("/healthz", "/readyz"):  # the default public paths
        assert client.get(url).status_code == 200


def test_public_paths_are_configurable(make_client, keys):
    path, minted = keys
    client = make_client(api_keys_file=path, auth_public_paths="/metrics,/openapi.json,/docs")
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
    assert client.get("/healthz").status_code == 401
    assert client.get("/healthz", headers=bearer(minted["feedback"])).status_code == 200
    with pytest.raises(ValueError, match="'/v1/score' cannot be public"):
        Settings(api_keys_file=path, auth_public_paths="/healthz,/v1/score")
    with pytest.raises(ValueError, match="make both public"):
        Settings(auth_public_paths="/docs")


def test_the_hot_path_and_the_routes_answer_alike(make_client, keys, sample_records):
    path, minted = keys
    fast = make_client(api_keys_file=path, hot_path=True)
    routed = make_client(api_keys_file=path, hot_path=False)
    body = {"records": sample_records[:2]}
    for url in ("/v1/score", "/v1/rank", "/v1/feedback"):
        for headers in ({}, bearer(k.new_key()), bearer(minted["feedback"]), bearer(minted["score"]),
                        {"authorization": "Basic abc", "x-request-id": "same-id"}):  # fmt: skip
            a = post(fast, body, {**headers, "x-request-id": "same-id"}, path=url)
            b = post(routed, body, {**headers, "x-request-id": "same-id"}, path=url)
            assert (a.status_code, a.content, a.headers.get("www-authenticate")) == (
                b.status_code, b.content, b.headers.get("www-authenticate")), (url, headers)  # fmt: skip


def test_the_schema_documents_the_security_and_the_admin_endpoints(make_client, keys):
    path, minted = keys
    client = make_client(api_keys_file=path)
    schema = client.get("/openapi.json", headers=bearer(minted["score"])).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"}
    assert schemes["apiKey"]["name"] == "X-API-Key" and schemes["apiKey"]["in"] == "header"
    assert schema["paths"]["/v1/score"]["post"]["security"] == [{"bearer": ["score"]}, {"apiKey": ["score"]}]
    promote = schema["paths"]["/v1/admin/promote"]["post"]
    assert promote["security"] == [{"bearer": ["admin"]}, {"apiKey": ["admin"]}]
    assert {"200", "401", "403", "404", "409", "422"} <= set(promote["responses"])
    assert "security" not in schema["paths"]["/healthz"]["get"]  # public by default


def test_a_bad_keys_file_stops_the_start_naming_the_key(tmp_path, artifact_path):
    path = tmp_path / "keys.toml"
    path.write_text('[[key]]\nid = "ranker"\nsha256 = "ctr_notadigest"\nscopes = ["score"]\n')
    with pytest.raises(k.KeysFileError, match=r"key #1 \(line 1\) id 'ranker': sha256 must"):
        create_app(Settings(model_dir=artifact_path.parent, api_keys_file=path))
    with pytest.raises(k.KeysFileError, match="cannot read"):
        create_app(Settings(model_dir=artifact_path.parent, api_keys_file=tmp_path / "absent.toml"))


def wait_for_status(client, headers, status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/v1/model", headers=headers).status_code == status:
            return True
        time.sleep(0.05)
    return False


def test_revocation_and_a_broken_file_at_reload(make_client, keys, caplog):
    path, minted = keys
    client = make_client(api_keys_file=path, api_keys_reload_seconds=0.05)
    kept = [key for key in k.load_keys(path).keys if key.id != "score-key"]
    k.write_keys(path, kept)
    assert wait_for_status(client, bearer(minted["score"]), 401)  # revoked, no restart
    assert client.get("/v1/model", headers=bearer(minted["feedback"])).status_code == 200
    path.write_text("[[key]\n")  # broken: the keys in force stay, an error is logged and counted
    time.sleep(0.5)
    assert client.get("/v1/model", headers=bearer(minted["feedback"])).status_code == 200
    assert client.get("/v1/model", headers=bearer(minted["score"])).status_code == 401
    assert "keys file not reloaded, keeping the 3 keys in force" in caplog.text
    metrics = client.get("/metrics", headers=bearer(minted["metrics"])).text
    assert 'ctr_api_keys_reloads_total{result="error"} 1.0' in metrics
    assert 'ctr_api_keys_reloads_total{result="ok"} 1.0' in metrics and "ctr_api_keys 3.0" in metrics
