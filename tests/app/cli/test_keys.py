"""`ctr keys add|list|revoke`: the key printed once, only its digest stored, clear errors with exit 2."""

import json
import stat

from app.security import keys as k
from cli import main


def keys(*args, capsys):
    code = main(["keys", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_revoke(tmp_path, capsys, monkeypatch):
    path = tmp_path / "secrets" / "keys.toml"
    code, out, err = keys("add", "--scopes", "score,feedback", "--id", "ranker", "--file", str(path), capsys=capsys)
    assert code == 0 and "'ranker' (feedback, score) added" in err
    key = out.strip()
    assert key.startswith("ctr_") and out == key + "\n"  # stdout is the key alone: KEY=$(ctr keys add ...)
    text = path.read_text()
    assert key not in text and k.digest(key) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert k.load_keys(path).match(key.encode()).scopes == {"score", "feedback"}

    monkeypatch.setenv("CTR_API_KEYS_FILE", str(path))  # the server's own setting is the default file
    code, out, _ = keys("add", "--scopes", "admin", capsys=capsys)
    second = out.strip()
    assert code == 0 and second != key
    code, out, _ = keys("list", "--json", capsys=capsys)
    rows = json.loads(out)
    assert [r["scopes"] for r in rows] == [["feedback", "score"], ["admin"]] and rows[0]["id"] == "ranker"
    assert rows[1]["id"].startswith("key-")
    code, out, _ = keys("list", capsys=capsys)
    for stored in k.load_keys(path).keys:
        assert stored.sha256[:8] in out and stored.sha256 not in out  # never a whole digest, never a key
    assert key not in out and second not in out

    code, _, err = keys("revoke", "ranker", capsys=capsys)
    assert code == 0 and "'ranker' removed" in err
    assert k.load_keys(path).match(key.encode()) is None and k.load_keys(path).match(second.encode()) is not None


def test_bad_input_is_a_clear_message_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CTR_API_KEYS_FILE", raising=False)
    path = tmp_path / "keys.toml"
    assert keys("list", capsys=capsys)[::2] == (2, "ctr keys list: error: no keys file: give --file or set "
                                                   "CTR_API_KEYS_FILE\n")  # fmt: skip
    code, _, err = keys("add", "--scopes", "score,rank", "--file", str(path), capsys=capsys)
    assert code == 2 and "unknown scope 'rank'" in err and not path.exists()
    code, _, err = keys("add", "--scopes", "score", "--id", "has space", "--file", str(path), capsys=capsys)
    assert code == 2 and "--id 'has space'" in err
    assert keys("add", "--scopes", "score", "--id", "a", "--file", str(path), capsys=capsys)[0] == 0
    code, _, err = keys("add", "--scopes", "score", "--id", "a", "--file", str(path), capsys=capsys)
    assert code == 2 and "id 'a' exists already" in err
    code, _, err = keys("revoke", "nope", "--file", str(path), capsys=capsys)
    assert code == 2 and "no key with id 'nope'" in err and "(ids: a)" in err
    path.write_text("[[key]]\nid = 3\n")
    code, _, err = keys("add", "--scopes", "score", "--file", str(path), capsys=capsys)
    assert code == 2 and "key #1 (line 1): id must be" in err
    assert path.read_text() == "[[key]]\nid = 3\n"  # a broken file is never overwritten
