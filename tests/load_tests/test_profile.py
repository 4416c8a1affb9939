from load_tests.profile import stage_of, summarise

SERVER = "main (a.py:1);run (uvicorn/server.py:9);__call__ (app/http/front.py:70);score_json (app/http/handlers.py:130)"
RAW = f"""\
{SERVER};infer (app/scoring/model.py:88);run (onnxruntime/capi/x.py:406) 6
{SERVER};encode (contract/memo.py:12) 3
main (a.py:1);run (uvicorn/server.py:9);data_received (uvicorn/protocols/http/httptools_impl.py:174) 1
"""


def test_samples_go_to_their_innermost_stage():
    assert (
        stage_of(["x (uvicorn/a.py:1)", "y (app/http/handlers.py:2)", "z (contract/memo.py:3)"])
        == "encoding (contract)"
    )
    assert stage_of(["x (uvicorn/a.py:1)", "y (app/http/handlers.py:2)"]) == "our handler (rest)"
    assert stage_of(["x (elsewhere.py:1)"]) == "other"


def test_summary_shares_sum_to_one_and_rank_own_time():
    summary = summarise(RAW)
    assert summary["samples"] == 10
    assert summary["stages"] == {"inference (onnxruntime)": 0.6, "encoding (contract)": 0.3,
                                 "HTTP server (uvicorn, asyncio)": 0.1}  # fmt: skip
    assert summary["top_functions"][0] == {"function": "run (onnxruntime/capi/x.py)", "share": 0.6}


def test_garbage_lines_are_skipped():
    assert summarise("not a sample\n\n")["samples"] == 0


def test_catalog_lookups_are_their_own_stage_and_shapes_are_checked(capsys, monkeypatch):
    import load_tests.profile as profile

    frames = ["x (uvicorn/a.py:1)", "y (app/ranking/rank.py:2)", "z (contract/catalog.py:3)"]
    assert stage_of(frames) == "catalog id lookup (contract/catalog.py)"
    assert stage_of([*frames[:2], "w (contract/memo.py:4)"]) == "encoding (contract)"
    monkeypatch.setattr(profile.shutil, "which", lambda tool: f"/usr/bin/{tool}")  # past the tools check
    assert profile.main(["--shapes", "rank,nope"]) == 2
    assert "--shapes: unknown ['nope']" in capsys.readouterr().err
