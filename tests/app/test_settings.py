"""Settings: CTR_* variables, validated; a typo'd one is named, with the closest known one (issue 16.6)."""

from app.settings import unknown_variables


def test_a_typo_is_named_with_the_closest_setting():
    warnings = unknown_variables({"CTR_MAX_RECORD": "10", "CTR_MODEL_DIR": "m", "CTR_URL": "http://x", "HOME": "/"})
    assert warnings == [
        "CTR_MAX_RECORD is not a setting of this server and is ignored (did you mean 'CTR_MAX_RECORDS'?)"
    ]


def test_nothing_close_gets_no_suggestion():
    assert unknown_variables({"CTR_ZZZZZZZZZZ": "1"}) == [
        "CTR_ZZZZZZZZZZ is not a setting of this server and is ignored"
    ]


def test_the_server_and_the_cli_warn(tiny_trained, monkeypatch, caplog, capsys):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.settings import Settings
    from cli import main

    monkeypatch.setenv("CTR_MICROBATCH_MAX_ROW", "64")
    with caplog.at_level("WARNING"), TestClient(create_app(Settings(model_dir=tiny_trained[1]))):
        pass
    assert "CTR_MICROBATCH_MAX_ROW is not a setting" in caplog.text and "'CTR_MICROBATCH_MAX_ROWS'" in caplog.text
    main(["score", "--record", "{}", "--url", "http://127.0.0.1:9"])
    assert "ctr: warning: CTR_MICROBATCH_MAX_ROW is not a setting" in capsys.readouterr().err
