"""The API keys file: what it holds, reading and writing it, and matching a presented key.

A key is ``ctr_`` + 43 URL-safe base64 characters: 256 random bits (``secrets.token_urlsafe(32)``).
The prefix lets secret scanners recognise a leaked key and lets a person tell it from other tokens.
The file stores only each key's SHA-256 digest, beside its id, scopes and creation time::

    [[key]]
    id = "ranker-prod"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    scopes = ["score"]
    created = "2026-12-03T18:00:00Z"

Why SHA-256 and not bcrypt or argon2: those are deliberately slow (tens of ms per check) so that a
stolen digest of a *human* password, drawn from a small space, cannot be guessed offline. A key here
is 256 uniformly random bits: guessing it from its digest is 2^255 SHA-256 evaluations on average
at any hash speed, so slowness buys nothing, while the server would pay it on every request (a
bcrypt check per /v1/score would cost 100x the scoring). This is how API-token stores are commonly
built (GitHub's and PyPI's tokens, for instance, are stored as fast hashes of random secrets).

Matching computes the presented key's digest once and compares it with **every** stored digest by
``hmac.compare_digest``, without stopping at a match, so neither the comparison nor how many
comparisons were made tells an observer which key (if any) matched or how much of it was right.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCOPES = ("score", "feedback", "admin", "metrics")
KEY_PREFIX = "ctr_"
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = {"id", "sha256", "scopes", "created"}
_HEADER = re.compile(r"^\s*\[\[\s*key\s*\]\]")
FILE_COMMENT = (
    "# API keys of the ctr scoring server (CTR_API_KEYS_FILE), written by `ctr keys`.\n"
    "# Only SHA-256 digests of the keys are stored; a key is shown once, when `ctr keys add` creates it.\n"
)


class KeysFileError(ValueError):
    """The keys file cannot be used; the message names the file and, where there is one, the key and its line."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key: never the key itself, only its digest (hex)."""

    id: str
    sha256: str
    scopes: frozenset[str]
    created: str

    def to_toml(self) -> str:
        scopes = ", ".join(f'"{s}"' for s in sorted(self.scopes))
        # ids, digests, scopes and timestamps are checked to hold no quote or backslash: nothing to escape
        return f'[[key]]\nid = "{self.id}"\nsha256 = "{self.sha256}"\nscopes = [{scopes}]\ncreated = "{self.created}"\n'


class KeySet:
    """The keys a server accepts; :meth:`match` is the constant-time check."""

    def __init__(self, keys: Sequence[ApiKey] = ()) -> None:
        self.keys = tuple(keys)
        self._digests = [(bytes.fromhex(k.sha256), k) for k in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def match(self, presented: bytes) -> ApiKey | None:
        """The stored key whose digest is SHA-256(``presented``), or None; compares with every digest."""
        digest = hashlib.sha256(presented).digest()
        found = None
        for stored, key in self._digests:
            if hmac.compare_digest(digest, stored):  # no break: as many comparisons whichever key matches
                found = key
        return found


def new_key() -> str:
    """A fresh key: ``ctr_`` + 256 random bits, URL-safe base64 (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_scopes(text: str) -> frozenset[str]:
    """``"score,feedback"`` as a set of known scopes; anything else is a ValueError naming it."""
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown scope {unknown[0]!r}" if unknown else "give at least one scope")
    return scopes


def parse_keys(text: str, where: str) -> KeySet:
    """The keys of a keys file's text; a :class:`KeysFileError` names ``where``, the key and its line."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeysFileError(f"{where}: not valid TOML: {exc}") from exc
    unknown = set(raw) - {"key"}
    if unknown:
        raise KeysFileError(f"{where}: unknown top-level key {sorted(unknown)[0]!r} (only [[key]] tables)")
    entries = raw.get("key", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise KeysFileError(f"{where}: 'key' must be an array of tables, written [[key]]")
    lines = [n for n, line in enumerate(text.splitlines(), 1) if _HEADER.match(line)]
    keys: list[ApiKey] = []
    for index, entry in enumerate(entries):
        at = f"{where}: key #{index + 1}" + (f" (line {lines[index]})" if index < len(lines) else "")
        keys.append(_entry(entry, at))
    _unique(keys, "id", where)
    _unique(keys, "sha256", where)
    return KeySet(keys)


def _entry(entry: dict[str, Any], at: str) -> ApiKey:
    for name in entry:
        if name not in _ENTRY_KEYS:
            raise KeysFileError(f"{at}: unknown key {name!r} (allowed: {', '.join(sorted(_ENTRY_KEYS))})")
    key_id = entry.get("id")
    if not isinstance(key_id, str) or not KEY_ID.match(key_id):
        raise KeysFileError(f"{at}: id must be 1-64 letters, digits, '_', '.' or '-'")
    at = f"{at} id {key_id!r}"
    sha = entry.get("sha256")
    if not isinstance(sha, str) or not _HEX64.match(sha):
        raise KeysFileError(f"{at}: sha256 must be 64 lower-case hex digits (the digest, never the key)")
    scopes = entry.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise KeysFileError(f"{at}: scopes must be a non-empty list of {', '.join(SCOPES)}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise KeysFileError(f"{at}: unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})")
    created = entry.get("created", "")
    if isinstance(created, dt.datetime | dt.date):  # a bare TOML date-time is fine too
        created = created.isoformat()
    if not isinstance(created, str) or '"' in created or "\\" in created:
        raise KeysFileError(f"{at}: created must be a date-time string")
    return ApiKey(key_id, sha, frozenset(scopes), created)


def _unique(keys: list[ApiKey], attribute: str, where: str) -> None:
    seen: set[str] = set()
    for key in keys:
        value = getattr(key, attribute)
        if value in seen:
            what = "id" if attribute == "id" else "digest (one key stored twice)"
            raise KeysFileError(f"{where}: duplicate {what} at key id {key.id!r}")
        seen.add(value)


def load_keys(path: Path) -> KeySet:
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot read the keys file ({exc.strerror or exc})") from exc
    return parse_keys(text, str(path))


def render(keys: Sequence[ApiKey]) -> str:
    return FILE_COMMENT + "".join("\n" + k.to_toml() for k in keys)


def write_keys(path: Path, keys: Sequence[ApiKey]) -> None:
    """Replace the file atomically: a reader (the server) sees the old file or the new one, never half of one.

    The new content goes to a temporary file in the same directory, created with mode 0600, flushed to
    disk, then renamed over the old file (``os.replace``: atomic on POSIX); the directory is synced so
    the rename survives a crash.
    """
    text = render(keys)
    parse_keys(text, str(path))  # never write a file the server would refuse
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of the keys file (two `ctr keys add` at once lose nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class KeyFile:
    """The keys file a server reads: loaded at start-up (errors refuse the start), re-read when it changes.

    A change is seen by its stat signature (mtime in ns, size, inode: an atomic rename always changes
    the inode), checked by :meth:`changed`; the server calls it about once a second, off the request path.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature = self._stat()
        self.keys = load_keys(path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def changed(self) -> bool:
        """Has the file changed since the last look? Each change is reported once."""
        signature = self._stat()
        if signature == self._signature:
            return False
        self._signature = signature
        return True

    def reload(self) -> KeySet:
        """Re-read the file; on a KeysFileError the keys in use stay as they were."""
        self.keys = load_keys(self.path)
        return self.keys
