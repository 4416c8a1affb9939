"""`make demo` must fail clearly, before training, when its port is taken (issue 16.8)."""

import os
import socket
import subprocess

from tests.test_isolation import ROOT


def test_demo_refuses_a_port_in_use():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {**os.environ, "CTR_PORT": str(port)}
        result = subprocess.run(["scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "==> training" not in result.stdout  # it stops before spending time on training
