"""The keys file: digests only, atomic 0600 writes, errors naming the key and line, the constant-time match."""

import hashlib
import stat

import pytest

from app.security import keys as k


def make(key_id: str, scopes=("score",)) -> tuple[str, k.ApiKey]:
    key = k.new_key()
    return key, k.ApiKey(key_id, k.digest(key), frozenset(scopes), "2026-12-03T18:00:00Z")


def test_a_new_key_is_256_random_bits_and_only_its_digest_is_written(tmp_path):
    key, stored = make("ranker", ("score", "feedback"))
    assert key.startswith("ctr_") and len(key) == 4 + 43 and key != k.new_key()
    path = tmp_path / "keys.toml"
    k.write_keys(path, [stored])
    text = path.read_text()
    assert key not in text and hashlib.sha256(key.encode()).hexdigest() in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = k.load_keys(path)
    assert loaded.keys == (stored,)
    assert loaded.match(key.encode()) == stored
    assert loaded.match(key.encode() + b"x") is None and loaded.match(b"") is None


def test_rewrites_are_atomic_renames_leaving_no_temporary_file(tmp_path):
    path = tmp_path / "keys.toml"
    k.write_keys(path, [make("a")[1]])
    inode = path.stat().st_ino
    k.write_keys(path, [make("a")[1], make("b")[1]])
    assert path.stat().st_ino != inode  # a new file renamed over the old one: readers see old or new, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.toml"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("position", [0, 4, 9, None])
def test_every_stored_digest_is_compared_whichever_key_matches(monkeypatch, position):
    made = [make(f"k{i}") for i in range(10)]
    keys = k.KeySet([stored for _, stored in made])
    calls = []
    real = k.hmac.compare_digest

    def counting(a, b):
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(k.hmac, "compare_digest", counting)
    presented = made[position][0] if position is not None else k.new_key()
    found = keys.match(presented.encode())
    assert found == (made[position][1] if position is not None else None)
    assert len(calls) == 10  # no early exit: the count does not tell which key matched
    assert {bytes(c).hex() for c in calls} == {stored.sha256 for _, stored in made}


GOOD = '[[key]]\nid = "a"\nsha256 = "{}"\nscopes = ["score"]\ncreated = "2026-12-03T18:00:00Z"\n'.format("0" * 64)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[key]\nid = 1", "not valid TOML"),
        (GOOD + '\n[[key]]\nid = "b"\nsha256 = "abc"\nscopes = ["score"]\n', "key #2 (line 7) id 'b': sha256 must"),
        (
            GOOD + '\n[[key]]\nid = "c"\nsha256 = "{}"\nscopes = ["rank"]\n'.format("1" * 64),
            "id 'c': unknown scope 'rank'",
        ),
        (GOOD + '\n[[key]]\nid = "d"\nsha256 = "{}"\nscopes = []\n'.format("1" * 64), "id 'd': scopes must be"),
        (GOOD + GOOD.replace("0" * 64, "1" * 64), "duplicate id at key id 'a'"),
        (GOOD + GOOD.replace('"a"', '"b"'), "duplicate digest"),
        (GOOD.replace("created", "key_value"), "key #1 (line 1): unknown key 'key_value'"),
        ('[[key]]\nid = "a b"\n', "key #1 (line 1): id must be"),
        ("keys = []\n", "unknown top-level key 'keys'"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key_and_line(text, message):
    with pytest.raises(k.KeysFileError) as caught:
        k.parse_keys(text, "keys.toml")
    assert message in str(caught.value) and str(caught.value).startswith("keys.toml")


def test_scopes_from_the_command_line():
    assert k.parse_scopes("score, feedback") == {"score", "feedback"}
    with pytest.raises(ValueError, match="unknown scope 'rank'"):
        k.parse_scopes("score,rank")
    with pytest.raises(ValueError, match="at least one"):
        k.parse_scopes(" , ")


def test_the_key_file_notices_each_change_once(tmp_path):
    path = tmp_path / "keys.toml"
    k.write_keys(path, [make("a")[1]])
    watched = k.KeyFile(path)
    assert not watched.changed()
    k.write_keys(path, [make("a")[1], make("b")[1]])
    assert watched.changed() and not watched.changed()
    assert [key.id for key in watched.reload().keys] == ["a", "b"]
    path.write_text("broken [")
    assert watched.changed()
    with pytest.raises(k.KeysFileError):
        watched.reload()
    assert [key.id for key in watched.keys.keys] == ["a", "b"]  # what was in force stays
