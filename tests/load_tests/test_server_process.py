"""ServerProcess builds the uvicorn command the benchmark records: app, workers and CPU pinning."""

from __future__ import annotations

import shutil

import pytest

from load_tests.server import ServerProcess


def test_default_is_our_app_one_worker_unpinned():
    command = ServerProcess({}).command()
    assert "app.main:create_app" in command and "--workers" not in command and "taskset" not in command


@pytest.mark.skipif(shutil.which("taskset") is None, reason="no taskset")
def test_workers_app_and_pinning():
    one = ServerProcess({}, cpu=0).command()
    assert one[:3] == ["taskset", "-c", "0"]
    two = ServerProcess({}, cpu=0, workers=2, app="load_tests.baselines.floor_app:create_app", cpus="0,1").command()
    assert two[:3] == ["taskset", "-c", "0,1"]
    assert two[two.index("--workers") + 1] == "2"
    assert "load_tests.baselines.floor_app:create_app" in two


def test_workers_must_be_positive():
    with pytest.raises(ValueError):
        ServerProcess({}, workers=0)


def test_our_app_with_workers_starts_through_the_ctr_serve_launcher():
    command = ServerProcess({}, workers=2).command()
    assert command[command.index("-m") + 1 : command.index("-m") + 3] == ["cli", "serve"]
    assert command[command.index("--workers") + 1] == "2"
