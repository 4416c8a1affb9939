"""Throw-away Redis servers for tests: one to stop, pause and restart, or a 3-node cluster.

Each runs ``redis-server`` in the foreground on a free loopback port, without persistence, in its
own temporary directory; the fixtures in tests/app/conftest.py stop them at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from load_tests.server import stop_process

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def free_port(bus_too: bool = False) -> int:
    """A free loopback port (and, for cluster nodes, port + 10000 free too: the cluster bus)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not bus_too:
            return port
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def ping(port: int, *extra: str) -> bool:
    args = [REDIS_CLI or "redis-cli", "-h", "127.0.0.1", "-p", str(port), *extra, "ping"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=5)
    return "PONG" in result.stdout


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; ``stop``/``start`` keep the port, ``pause`` freezes it."""

    def __init__(
        self, workdir: Path, *args: str, port: int | None = None, cluster: bool = False, tls: Path | None = None
    ) -> None:
        self.port = port or free_port(bus_too=cluster)
        self.workdir = workdir / f"redis-{self.port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.tls = tls  # a directory with ca.crt, server.crt, server.key (see make_certificates)
        self._ping_args: tuple[str, ...] = ()
        if tls is not None:
            self.args += ["--tls-port", str(self.port), "--tls-cert-file", str(tls / "server.crt"),
                          "--tls-key-file", str(tls / "server.key"), "--tls-ca-cert-file", str(tls / "ca.crt"),
                          "--tls-auth-clients", "no"]  # fmt: skip
            self._ping_args = ("--tls", "--cacert", str(tls / "ca.crt"))
        if cluster:
            self.args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                          "--cluster-node-timeout", "2000"]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        plain_port = "0" if self.tls else str(self.port)
        command = [REDIS_SERVER or "redis-server", "--port", plain_port, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--daemonize", "no", *self.args]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.process.returncode}")
            if ping(self.port, *self._ping_args) or self._answers_auth():
                return self
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def _answers_auth(self) -> bool:
        """A password-protected server answers NOAUTH to a bare ping: it is up."""
        command = [REDIS_CLI or "redis-cli", "-p", str(self.port), *self._ping_args, "ping"]
        result = subprocess.run(command, capture_output=True, text=True)
        return "NOAUTH" in result.stdout or "NOAUTH" in result.stderr

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
            stop_process(self.process)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung server, not a dead one)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


class RedisClusterNodes:
    """Three master nodes with slots spread by ``redis-cli --cluster create``."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.nodes = [RedisServer(workdir, cluster=True) for _ in range(nodes)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterNodes:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [REDIS_CLI or "redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = [[REDIS_CLI or "redis-cli", "-p", str(n.port), "cluster", "info"] for n in self.nodes]
            states = [subprocess.run(command, capture_output=True, text=True).stdout for command in info]
            if all("cluster_state:ok" in s for s in states):
                return self
            time.sleep(0.05)
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def make_certificates(directory: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl CLI), in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=ctr-test-ca")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "1", "-extfile", "san.cnf")  # fmt: skip
    return directory
