"""`ctr retrain` on MovieLens-100k daily partitions: promote, reject, lock, a kill mid-export, metrics, Redis."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli import main
from contract.registry import active_version, history, versions
from tests.app.redis_helpers import SHARED_URL, delete_model, sync_client, unique_model
from tests.retrain.conftest import FIRST_NIGHT, write_config
from tests.test_isolation import ROOT


def retrain(config: Path, date: str = FIRST_NIGHT) -> int:
    return main(["retrain", "--config", str(config), "--date", date, "--quiet"])


def reports(model_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((model_dir / "runs").glob("*.json"))]


def test_a_first_night_promotes_and_reports_everything(tmp_path, daily_data, capsys):
    config = write_config(tmp_path, daily_data)
    assert retrain(config) == 0
    out = capsys.readouterr().out
    assert "ctr retrain ml100k for 1998-01-15: PROMOTED" in out and "holdout    1998-01-12 .. 1998-01-14" in out
    model_dir = tmp_path / "models" / "ml100k"
    (report,) = reports(model_dir)
    assert report["outcome"] == "promoted" and report["candidate_version"] == active_version(model_dir)
    assert report["window"] == {"train": ["1997-12-08", "1998-01-06"], "validation": ["1998-01-07", "1998-01-11"],
                                "holdout": ["1998-01-12", "1998-01-14"]}  # fmt: skip
    assert set(report["seconds"]) == {"read", "train", "evaluate", "export", "publish", "activate"}
    assert report["rows"]["holdout"] == report["candidate"]["rows"] > 200
    manifest = json.loads((model_dir / report["candidate_version"] / "manifest.json").read_text())
    assert manifest["retrain"]["holdout"]["auc"] == report["candidate"]["auc"]
    assert history(model_dir)[-1]["by"] == "retrain"
    # the schema names candidate_id: the promoted version comes with its candidate catalog
    catalog = model_dir / report["candidate_version"] / "catalog"
    assert (catalog / "CURRENT").read_text().strip() == report["catalog"]["generation"]
    assert report["catalog"]["key_field"] == "item_id" and report["catalog"]["items"] > 500


def shuffled_copy(data: Path, target: Path, last_shuffled_day: str) -> Path:
    """The partitions with the ratings of every day up to ``last_shuffled_day`` shuffled (labels are noise)."""
    shutil.copytree(data, target)
    rng = np.random.default_rng(0)
    for part in sorted(target.glob("date=*/part-0.parquet")):
        if part.parent.name.split("=")[1] <= last_shuffled_day:
            table = pq.read_table(part)
            ratings = rng.permutation(np.array(table.column("rating").to_pylist(), dtype=object))
            table = table.set_column(table.schema.get_field_index("rating"), "rating", pa.array(list(ratings)))
            pq.write_table(table, part)
    return target


def test_a_candidate_trained_on_shuffled_labels_is_rejected(tmp_path, daily_data, capsys):
    first = write_config(tmp_path, daily_data)
    assert retrain(first) == 0
    model_dir = tmp_path / "models" / "ml100k"
    serving = active_version(model_dir)
    # the next night trains on labels that carry no signal; its holdout days are intact
    noisy = shuffled_copy(daily_data, tmp_path / "noisy", last_shuffled_day="1998-01-12")
    config = Path(str(first).replace("retrain.toml", "noisy.toml"))
    config.write_text(first.read_text().replace(str(daily_data), str(noisy)))
    assert retrain(config, "1998-01-16") == 3
    out = capsys.readouterr().out
    assert "REJECTED" in out and "FAIL: candidate AUC" in out
    assert active_version(model_dir) == serving
    assert reports(model_dir)[-1]["outcome"] == "rejected" and reports(model_dir)[-1]["candidate"]["auc"] < 0.56


def test_a_second_concurrent_run_is_refused_by_the_lock(tmp_path, daily_data, capsys):
    config = write_config(tmp_path, daily_data)
    lock = tmp_path / "models" / "ml100k" / ".retrain.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running job holds
        assert retrain(config) == 4
    assert "is held by another run" in capsys.readouterr().err
    assert not (tmp_path / "models" / "ml100k" / "runs").exists()


KILLED_DURING_EXPORT = """
import os, signal, sys
import contract.artifact as artifact
real_rename = os.rename
def rename(src, dst):
    if ".incomplete-" in str(src):  # every file of the version is written, its rename is next
        os.kill(os.getpid(), signal.SIGKILL)
    return real_rename(src, dst)
artifact.os.rename = rename
from cli import main
sys.exit(main(["retrain", "--config", sys.argv[1], "--date", sys.argv[2], "--quiet"]))
"""


def test_a_run_killed_mid_export_leaves_the_active_version(tmp_path, daily_data):
    config = write_config(tmp_path, daily_data)
    assert retrain(config) == 0
    model_dir = tmp_path / "models" / "ml100k"
    serving = active_version(model_dir)
    result = subprocess.run([sys.executable, "-c", KILLED_DURING_EXPORT, str(config), "1998-01-16"], cwd=ROOT,
                            capture_output=True, timeout=300)  # fmt: skip
    assert result.returncode == -signal.SIGKILL
    assert active_version(model_dir) == serving
    states = {v.version: v.state for v in versions(model_dir)}
    assert list(states.values()).count("incomplete") == 1 and states[serving] == "active"
    # the lock died with the process: the next night runs
    assert retrain(config, "1998-01-17") in (0, 3)


def gateway_samples(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ctr_retrain_")
    }


def test_the_outcome_reaches_a_real_pushgateway_and_a_textfile(tmp_path, daily_data, pushgateway):
    textfile = tmp_path / "textfile" / "ctr_retrain.prom"
    config = write_config(tmp_path, daily_data, f'[metrics]\npushgateway = "{pushgateway}"\ntextfile = "{textfile}"')
    assert retrain(config) == 0
    samples = gateway_samples(pushgateway)
    key = 'instance="",job="ctr_retrain",model="ml100k"'
    assert samples[f'ctr_retrain_outcome{{{key},outcome="promoted"}}'] == 1
    assert samples[f'ctr_retrain_outcome{{{key},outcome="failed"}}'] == 0
    success = samples[f"ctr_retrain_last_success_timestamp_seconds{{{key}}}"]
    assert abs(success - time.time()) < 600
    assert samples[f'ctr_retrain_rows{{{key},part="train"}}'] > 1000
    assert 0.5 < samples[f'ctr_retrain_auc{{{key},which="candidate"}}'] < 1
    assert 'ctr_retrain_outcome{outcome="promoted"} 1.0' in textfile.read_text()

    # a failed night (no data for its window): the outcome says so, the last success stays
    assert retrain(config, "2001-01-01") == 1
    samples = gateway_samples(pushgateway)
    assert samples[f'ctr_retrain_outcome{{{key},outcome="failed"}}'] == 1
    assert samples[f"ctr_retrain_last_success_timestamp_seconds{{{key}}}"] == success
    assert f"ctr_retrain_last_success_timestamp_seconds {success}" in textfile.read_text()
    assert 'ctr_retrain_outcome{outcome="failed"} 1.0' in textfile.read_text()


@pytest.mark.redis
def test_publishing_to_redis_activates_there_too(tmp_path, daily_data):
    model = unique_model()
    config = write_config(tmp_path, daily_data, f'[publish]\nredis_url = "{SHARED_URL}"\nshards = 4')
    config.write_text(config.read_text().replace('model = "ml100k"', f'model = "{model}"'))
    try:
        assert retrain(config) == 0
        version = active_version(tmp_path / "models" / model)
        redis = sync_client(SHARED_URL)
        assert redis.get(f"ctr:{model}:active") == version.encode()
        assert json.loads(redis.lindex(f"ctr:{model}:history", 0))["by"] == "retrain"
    finally:
        delete_model(SHARED_URL, model)


def test_bad_config_and_date_exit_2(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('model = "m"\n[data]\nschema = "s"\npath = "p"\nholdout_days = 0\n')
    assert main(["retrain", "--config", str(tmp_path / "bad.toml")]) == 2
    assert "data.holdout_days: must be >= 1" in capsys.readouterr().err
    assert main(["retrain", "--config", str(ROOT / "deploy/retrain.toml"), "--date", "tomorrow"]) == 2
    assert "--date 'tomorrow' is not YYYY-MM-DD" in capsys.readouterr().err
    assert os.path.exists(ROOT / "deploy/retrain.toml")
