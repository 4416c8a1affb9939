"""The admin endpoints (auth on only): promote and shadow over HTTP do what `ctr models` does, with its checks."""

import shutil

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.security import keys as k
from app.settings import Settings
from contract.registry import active_version, history, shadow_version
from tests.app.redis_helpers import another_version


@pytest.fixture
def serve():
    """TestClients over settings given whole (make_client fixes model_dir); closed at the end."""
    clients = []

    def make(**values) -> TestClient:
        client = TestClient(create_app(Settings(**values)))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def setup(artifact_path, tmp_path, serve):
    """A client serving a copy of the tiny model directory (two versions), and its admin and score keys."""
    model_dir = tmp_path / "models" / artifact_path.parent.name
    shutil.copytree(artifact_path.parent, model_dir)
    second = another_version(artifact_path, model_dir.parent, 1.5).name
    admin, score = k.new_key(), k.new_key()
    keys = tmp_path / "keys.toml"
    k.write_keys(keys, [k.ApiKey("ops", k.digest(admin), frozenset({"admin"}), k.now()),
                        k.ApiKey("ranker", k.digest(score), frozenset({"score"}), k.now())])  # fmt: skip
    client = serve(model_dir=model_dir, api_keys_file=keys, drain_seconds=0.0)
    return client, model_dir, second, {"authorization": f"Bearer {admin}"}, {"authorization": f"Bearer {score}"}


def test_promote_over_http_flips_the_served_version(setup, artifact_path, sample_records):
    client, model_dir, second, admin, score = setup
    first = artifact_path.name
    assert client.get("/readyz").json()["model_version"] == first
    assert client.post("/v1/admin/promote", json={"version": second}, headers=score).status_code == 403
    response = client.post("/v1/admin/promote", json={"version": second, "reason": "better"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"active": second, "previous": first, "serving": second}
    assert active_version(model_dir) == second
    assert client.get("/readyz").json()["model_version"] == second  # served now, not at the next poll
    scored = client.post("/v1/score", json={"records": sample_records[:1]}, headers=score).json()
    assert scored["model_version"] == second
    last = history(model_dir)[-1]
    assert (last["version"], last["previous"], last["by"], last["reason"]) == (second, first, "api:ops", "better")
    listing = client.get("/v1/admin/versions", headers=admin).json()
    assert {(v["version"], v["state"]) for v in listing["versions"]} == {(first, "previous"), (second, "active")}


def test_promote_refuses_what_a_server_would_refuse(setup, artifact_path):
    client, model_dir, _, admin, _ = setup
    bad = another_version(artifact_path, model_dir.parent, 2.0)
    (bad / "model.onnx").write_bytes(b"truncated")
    refused = client.post("/v1/admin/promote", json={"version": bad.name}, headers=admin)
    assert refused.status_code == 409 and refused.json()["error"] == "conflict" and "(corrupt)" in refused.text
    missing = client.post("/v1/admin/promote", json={"version": "no-such-version"}, headers=admin)
    assert missing.status_code == 404 and missing.json()["field"] == "version"
    for version in ("../../etc", "", ".hidden"):  # a version name, never a path
        response = client.post("/v1/admin/promote", json={"version": version}, headers=admin)
        assert response.status_code == 422 and response.json()["field"] == "version", version
    extra = client.post("/v1/admin/promote", json={"version": "x", "force": True}, headers=admin)
    assert extra.status_code == 422 and extra.json()["field"] == "force"
    assert active_version(model_dir) == artifact_path.name  # nothing moved


def test_shadow_over_http(setup):
    client, model_dir, second, admin, _ = setup
    response = client.post("/v1/admin/shadow", json={"version": second}, headers=admin)
    assert response.status_code == 200 and response.json()["shadow"] == second
    assert shadow_version(model_dir) == second
    assert client.app.state.ctr.shadow.version == second  # loaded now
    off = client.post("/v1/admin/shadow", json={"version": None}, headers=admin)
    assert off.status_code == 200 and off.json()["shadow"] is None and shadow_version(model_dir) is None


def test_a_pinned_server_has_nothing_to_switch(serve, artifact_path, tmp_path):
    admin = k.new_key()
    keys = tmp_path / "keys.toml"
    k.write_keys(keys, [k.ApiKey("ops", k.digest(admin), frozenset({"admin"}), k.now())])
    client = serve(model_dir=artifact_path, api_keys_file=keys)  # a version directory
    response = client.post("/v1/admin/promote", json={"version": "v2"}, headers={"x-api-key": admin})
    assert response.status_code == 409 and "pinned" in response.json()["detail"]


def test_promote_over_http_on_a_redis_replica(serve, artifact_path, tmp_path, redis_model):
    from tests.app.redis_helpers import SHARED_URL, publish_to

    second = another_version(artifact_path, tmp_path, 1.5)
    publish_to(SHARED_URL, artifact_path, redis_model)
    publish_to(SHARED_URL, second, redis_model, activate=False)
    admin = k.new_key()
    keys = tmp_path / "keys.toml"
    k.write_keys(keys, [k.ApiKey("ops", k.digest(admin), frozenset({"admin"}), k.now())])
    client = serve(store="redis", redis_url=SHARED_URL, redis_model=redis_model, model_dir=tmp_path / "unused",
                   api_keys_file=keys, drain_seconds=0.0)  # fmt: skip
    headers = {"authorization": f"Bearer {admin}"}
    listing = client.get("/v1/admin/versions", headers=headers).json()
    assert {(v["version"], v["state"]) for v in listing["versions"]} == {
        (artifact_path.name, "active"), (second.name, "inactive")}  # fmt: skip
    response = client.post("/v1/admin/promote", json={"version": second.name}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"active": second.name, "previous": artifact_path.name, "serving": second.name}
    assert client.get("/readyz").json()["model_version"] == second.name
