"""``ctr keys add|list|revoke``: the API keys file of a server (CTR_API_KEYS_FILE), edited safely.

``add`` prints the new key once, on stdout alone (``KEY=$(ctr keys add ...)``), and stores only its
SHA-256 digest; every change rewrites the file atomically (temp file + rename, mode 0600) under a
lock, and a running server picks it up within about a second (docs/security.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

FILE_HELP = "the keys file (default: CTR_API_KEYS_FILE)"


def register(commands: Any) -> None:
    keys = commands.add_parser(
        "keys",
        help="create, list and revoke the server's API keys",
        description="API keys of the scoring server (docs/security.md). The file holds SHA-256 digests only; "
        "a key is shown once, by `add`. A running server re-reads the file within ~1 s of a change.",
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="<action>")
    add = actions.add_parser("add", help="mint a key with the given scopes; prints it once")
    add.add_argument("--scopes", required=True, help="comma-separated: score, feedback, admin, metrics")
    add.add_argument("--id", default=None, help="a name for the key, e.g. ranker-prod (default: key-<random>)")
    listing = actions.add_parser("list", help="key ids, scopes and creation times (never the keys)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = actions.add_parser("revoke", help="remove a key: servers refuse it within ~1 s")
    revoke.add_argument("key_id", help="the id `ctr keys list` shows")
    for parser in (add, listing, revoke):
        parser.add_argument("--file", type=Path, default=None, help=FILE_HELP)
    keys.set_defaults(run=run_keys)


def _fail(action: str, message: str) -> int:
    print(f"ctr keys {action}: error: {message}", file=sys.stderr)
    return 2


def run_keys(args: argparse.Namespace) -> int:
    from app.security import keys as k

    path = args.file or (Path(os.environ["CTR_API_KEYS_FILE"]) if os.environ.get("CTR_API_KEYS_FILE") else None)
    if path is None:
        return _fail(args.action, "no keys file: give --file or set CTR_API_KEYS_FILE")
    try:
        if args.action == "list":
            return _list(k.load_keys(path).keys, args.json) if path.exists() else _list((), args.json)
        with k.locked(path):
            current = list(k.load_keys(path).keys) if path.exists() else []
            if args.action == "add":
                return _add(args, path, current)
            return _revoke(args, path, current)
    except k.KeysFileError as exc:
        return _fail(args.action, str(exc))
    except OSError as exc:
        return _fail(args.action, f"{path}: {exc.strerror or exc}")


def _add(args: argparse.Namespace, path: Path, current: list[Any]) -> int:
    import secrets

    from app.security import keys as k

    try:
        scopes = k.parse_scopes(args.scopes)
    except ValueError as exc:
        return _fail("add", f"--scopes: {exc} (known: {', '.join(k.SCOPES)})")
    key_id = args.id or f"key-{secrets.token_hex(4)}"
    if not k.KEY_ID.match(key_id):
        return _fail("add", f"--id {key_id!r}: use 1-64 letters, digits, '_', '.' or '-'")
    if any(existing.id == key_id for existing in current):
        return _fail("add", f"a key with id {key_id!r} exists already in {path} (revoke it first, or pick another id)")
    key = k.new_key()
    k.write_keys(path, [*current, k.ApiKey(key_id, k.digest(key), scopes, k.now())])
    print(key)  # stdout: the key alone, once; it is not stored anywhere
    print(f"ctr keys add: key {key_id!r} ({', '.join(sorted(scopes))}) added to {path}; the key above is shown "
          "only now: store it in the client's secret store", file=sys.stderr)  # fmt: skip
    return 0


def _revoke(args: argparse.Namespace, path: Path, current: list[Any]) -> int:
    from app.security import keys as k

    kept = [key for key in current if key.id != args.key_id]
    if len(kept) == len(current):
        known = ", ".join(key.id for key in current) or "none"
        return _fail("revoke", f"no key with id {args.key_id!r} in {path} (ids: {known})")
    k.write_keys(path, kept)
    print(f"ctr keys revoke: key {args.key_id!r} removed from {path}; servers refuse it within ~1 s", file=sys.stderr)
    return 0


def _list(keys: Any, as_json: bool) -> int:
    rows = [{"id": key.id, "scopes": sorted(key.scopes), "created": key.created, "sha256_prefix": key.sha256[:8]}
            for key in keys]  # fmt: skip
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'id':<24} {'scopes':<30} {'created':<22} digest")
    for row in rows:
        print(f"{row['id']:<24} {','.join(row['scopes']):<30} {row['created']:<22} {row['sha256_prefix']}…")
    return 0
