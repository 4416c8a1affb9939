"""Credentials and TLS pass through from settings to real servers, and a password never leaks."""

import logging
import shutil

import numpy as np
import pytest

from tests.app.conftest import post
from tests.app.redis_helpers import probabilities, publish_to, wait_for
from tests.redis_servers import make_certificates

pytestmark = pytest.mark.redis

PASSWORD = "pw-7Hq2xZ-never-print-me"
WRONG = "pw-wrong-also-never-print-me"


def assert_secret_absent(texts: list[str]) -> None:
    for text in texts:
        assert PASSWORD not in text and WRONG not in text


def test_password_protected_redis(make_redis, make_redis_client, artifact_path, sample_records, caplog, client):
    caplog.set_level(logging.DEBUG)  # every logger, redis-py's included
    server = make_redis("--requirepass", PASSWORD)
    publish_to(server.url, artifact_path, "m", auth={"redis_password": PASSWORD})
    good = make_redis_client(server.url, "m", redis_password=PASSWORD)
    expected = probabilities(post(client, {"records": sample_records}))
    np.testing.assert_array_equal(probabilities(post(good, {"records": sample_records})), expected)

    bad = make_redis_client(server.url, "m", redis_password=WRONG)
    ready = bad.get("/readyz")
    assert ready.status_code == 503
    assert "refused our credentials" in ready.json()["detail"]
    anonymous = make_redis_client(server.url, "m")
    assert "refused our credentials" in anonymous.get("/readyz").json()["detail"]
    refused = post(bad, {"records": sample_records})
    settings = bad.app.state.ctr.settings
    assert "refused our credentials" in caplog.text  # the log is captured, and says what is wrong
    assert_secret_absent([caplog.text, ready.text, refused.text, bad.get("/metrics").text, good.get("/metrics").text,
                          repr(settings), str(settings), settings.model_dump_json()])  # fmt: skip


def test_acl_user(make_redis, make_redis_client, artifact_path, sample_records):
    alice = ["--user", "alice", "on", f">{PASSWORD}", "~ctr:*", "&ctr:*", "+@all"]
    server = make_redis("--user", "default", "off", *alice)
    auth = {"redis_username": "alice", "redis_password": PASSWORD}
    publish_to(server.url, artifact_path, "m", auth=auth)
    served = make_redis_client(server.url, "m", **auth)
    assert post(served, {"records": sample_records}).status_code == 200
    wrong_user = make_redis_client(server.url, "m", redis_username="bob", redis_password=PASSWORD)
    assert "refused our credentials" in wrong_user.get("/readyz").json()["detail"]


def test_tls(make_redis, make_redis_client, artifact_path, sample_records, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make the test certificates")
    certs = make_certificates(tmp_path / "certs")
    server = make_redis(tls=certs)
    assert server.url.startswith("rediss://")
    tls = {"redis_tls_ca_file": certs / "ca.crt"}
    publish_to(server.url, artifact_path, "m", auth=tls)
    served = make_redis_client(server.url, "m", **tls)
    assert post(served, {"records": sample_records}).status_code == 200
    # without our CA the server certificate is not trusted, unless verification is switched off
    untrusted = make_redis_client(server.url, "m")
    assert "is unreachable" in untrusted.get("/readyz").json()["detail"]
    unverified = make_redis_client(server.url, "m", redis_tls_verify=False)
    wait_for(lambda: unverified.get("/readyz").status_code == 200)
    # and a plain connection to the TLS port is refused
    plain = make_redis_client(server.url.replace("rediss://", "redis://"), "m")
    assert plain.get("/readyz").status_code == 503
