"""Run the scoring server as a separate process for load tests (optionally pinned to one CPU)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 10 s (servers, Prometheus, Redis of the tests)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DEFAULT_APP = "app.main:create_app"


class ServerProcess:
    """``uvicorn <app> --factory`` (uvloop, httptools) configured by CTR_* variables.

    ``app`` is any ``module:factory`` (the baselines in ``load_tests/baselines`` run under the very
    same uvicorn flags). ``cpu`` pins the server to one CPU, ``cpus`` to a list such as ``"0,1"``
    (``taskset -c``; children, i.e. uvicorn's workers, inherit the mask). ``tree`` serves another
    checkout of the code (``git archive <commit>``), put first on ``PYTHONPATH``. ``workers`` > 1 starts
    uvicorn's process manager; readiness is then only known for whichever worker answered, so
    ``start`` keeps polling until ``workers`` x 10 consecutive /readyz answers succeed.
    """

    def __init__(
        self,
        env: dict[str, str],
        cpu: int | None = None,
        port: int | None = None,
        *,
        workers: int = 1,
        app: str = DEFAULT_APP,
        cpus: str | None = None,
        tree: Path | None = None,
        cli: bool = False,
        log_file: Path | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.port = port or free_port()
        self.env = {**os.environ, **env, "CTR_LOG_LEVEL": env.get("CTR_LOG_LEVEL", "warning")}
        self.tree = tree  # another checkout of the code (e.g. the commit before a change) to serve from
        if tree is not None:
            self.env["PYTHONPATH"] = str(tree)
        self.cpus = cpus if cpus is not None else (None if cpu is None else str(cpu))
        self.cpu = cpu
        self.workers = workers
        self.app = app
        self.cli = cli  # one worker through `ctr serve` too: its edge limits and shutdown bound (docs/security.md)
        self.log_file = log_file  # the server's stdout and stderr go there (appended) instead of the terminal
        self.process: subprocess.Popen[bytes] | None = None
        self.owned_dirs: list[Path] = []  # removed by stop(), e.g. a PROMETHEUS_MULTIPROC_DIR made for this server

    def command(self) -> list[str]:
        """The exact command line (recorded by benchmarks next to their numbers).

        Our app with several workers starts through ``ctr serve`` (same uvicorn options), the
        launcher that prepares the workers' shared metrics directory (app/cli/serve.py).
        """
        if self.app == DEFAULT_APP and (self.workers > 1 or self.cli):
            command = [sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                       "--workers", str(self.workers)]  # fmt: skip
        else:
            command = [sys.executable, "-m", "uvicorn", self.app, "--factory", "--host", "127.0.0.1",
                       "--port", str(self.port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                       "--log-level", "warning"]  # fmt: skip
            if self.workers > 1:
                command += ["--workers", str(self.workers)]
        if self.cpus is not None and shutil.which("taskset"):
            command = ["taskset", "-c", self.cpus, *command]
        return command

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        output = None if self.log_file is None else self.log_file.open("ab")
        self.process = subprocess.Popen(self.command(), cwd=self.tree or ROOT, env=self.env, stdout=output,
                                        stderr=output)  # fmt: skip
        if output is not None:
            output.close()  # the child holds its own descriptor
        deadline = time.monotonic() + timeout
        needed, streak = 1 if self.workers == 1 else 10 * self.workers, 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    streak = streak + 1 if response.status == 200 else 0
            except (urllib.error.URLError, OSError):
                streak = 0
            if streak >= needed:
                return self
            time.sleep(0.1 if streak == 0 else 0.02)
        self.stop()
        raise RuntimeError(f"server on {self.url} not ready within {timeout} s")

    def metrics(self) -> dict[str, float]:
        """Unlabelled samples (and labelled ones keyed with their labels) of /metrics."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            return parse_metrics(response.read().decode())

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used (Linux): a cost per request that a shared
        machine inflates far less than wall-clock latency."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)
        self.process = None
        for directory in self.owned_dirs:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def parse_metrics(text: str) -> dict[str, float]:
    """Samples of a /metrics text, keyed by the series as written (``name{labels}``)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
