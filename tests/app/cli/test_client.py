"""``ctr score --explain`` and ``ctr rank`` against a real server process (tiny model)."""

import json
import re

import pytest

from cli import main
from load_tests.server import ServerProcess

CONTEXT = {"user": 7, "device": "web"}
CANDIDATES = [{"item": 6, "price": 50.0, "tags": ["news", "tech"]}, {"item": 17}, {"item": 10, "tags": ["sport"]}]


@pytest.fixture(scope="module")
def server(tiny_trained):
    with ServerProcess({"CTR_MODEL_DIR": str(tiny_trained[1])}) as running:
        yield running


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rank_prints_candidates_best_first(server, capsys):
    code, out, _ = run(capsys, "rank", "--url", server.url, "--context", json.dumps(CONTEXT),
                       "--candidates", json.dumps(CANDIDATES))  # fmt: skip
    assert code == 0
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(0\.\d{4})\s+(item=.*)$", out, re.M)
    assert [r[0] for r in rows] == ["1", "2", "3"]
    probabilities = [float(r[2]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {r[3].split(",")[0] for r in rows} == {"item=6", "item=17", "item=10"}


def test_rank_top_k_and_explain_from_a_file(server, capsys, tmp_path):
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"context": CONTEXT, "candidates": CANDIDATES}))
    code, out, _ = run(capsys, "rank", "--url", server.url, "--file", str(path), "--top-k", "1", "--explain")
    assert code == 0
    assert "3 candidates, showing 1" in out
    assert out.count("sum of parts (= logit)") == 1
    logit = float(re.search(r"logit=([+-]\d+\.\d+)", out).group(1))
    total = float(re.search(r"sum of parts \(= logit\)\s+([+-]\d+\.\d+)", out).group(1))
    assert total == logit
    assert "pair    tags x tags  (within field)" in out
    assert "strongest feature pairs:" in out


def test_score_explain_prints_a_table_per_record(server, capsys):
    record = {**CONTEXT, **CANDIDATES[0]}
    code, out, _ = run(capsys, "score", "--url", server.url, "--record", json.dumps(record), "--explain")
    assert code == 0
    assert "record 0  p(click)=" in out
    for part in ("bias", "linear  user", "linear  tags", "pair    user x item"):
        assert part in out


def test_rank_errors(server, capsys, tmp_path):
    code, out, _ = run(capsys, "rank", "--url", server.url, "--context", json.dumps({"user": 1, "item": 3}),
                       "--candidates", json.dumps([{"item": 2}]))  # fmt: skip
    assert code == 1 and json.loads(out)["field"] == "item"
    code, _, err = run(capsys, "rank", "--url", server.url, "--context", "{}")
    assert code == 2 and "candidates" in err
    code, _, err = run(capsys, "rank", "--url", "http://127.0.0.1:9", "--candidates", "[{}]")
    assert code == 2 and "cannot reach" in err
    listed = tmp_path / "c.json"
    listed.write_text(json.dumps(CANDIDATES))
    code, out, _ = run(capsys, "rank", "--url", server.url, "--context", json.dumps(CONTEXT),
                       "--candidates", f"@{listed}", "--json")  # fmt: skip
    assert code == 0 and len(json.loads(out)["probabilities"]) == 3


@pytest.fixture(scope="module")
def catalog_server(tiny_catalog_artifact):
    with ServerProcess({"CTR_MODEL_DIR": str(tiny_catalog_artifact)}) as running:
        yield running


def test_rank_by_ids_marks_and_skips_unknown_ones(catalog_server, capsys, tiny_catalog_artifact):
    from tests.conftest import catalog_of

    known = catalog_of(tiny_catalog_artifact).key(0)
    code, out, _ = run(capsys, "rank", "--url", catalog_server.url, "--context", json.dumps(CONTEXT),
                       "--ids", f"{known},987654", "--candidates", json.dumps(CANDIDATES[:1]))  # fmt: skip
    assert code == 0
    assert "3 candidates, showing 3" in out
    assert re.search(r"id=987654\s+\(not in the catalog\)$", out, re.M)
    assert f"id={known}\n" in out and "item=6" in out
    code, out, _ = run(capsys, "rank", "--url", catalog_server.url, "--context", json.dumps(CONTEXT),
                       "--ids", f"[{known}, 987654]", "--unknown-ids", "skip")  # fmt: skip
    assert code == 0
    assert "2 candidates, showing 1" in out and "skipped (not in the catalog): 1" in out
