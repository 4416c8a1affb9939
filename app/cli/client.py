"""``ctr score`` and ``ctr rank``: call a running server over HTTP and print its answer as a table.

Standard library only (``urllib``): the server-only install has no HTTP client package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.tables import format_ranking, format_scores

DEFAULT_URL = "http://127.0.0.1:8000"


def register(commands: Any) -> None:
    score = commands.add_parser(
        "score",
        help="send records to a running server and print their probabilities",
        description="POST records to /v1/score and print a table (or the raw JSON with --json).",
    )
    source = score.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="JSON file: {'records': [...]} or a list of records; '-' for stdin")
    source.add_argument("--record", help='one record as JSON, e.g. \'{"user_id": 196, "item_id": 242}\'')
    score.add_argument("--url", default=os.environ.get("CTR_URL", DEFAULT_URL), help="server base URL")
    score.add_argument("--report-oov", action="store_true", help="ask which fields were unseen")
    score.add_argument("--explain", action="store_true", help="print each score's exact parts (fields, pairs)")
    score.add_argument("--json", action="store_true", help="print the server's JSON response")
    score.add_argument("--timeout", type=float, default=10.0, help="seconds")
    score.set_defaults(run=run_score)

    rank = commands.add_parser(
        "rank",
        help="rank candidates for one context on a running server",
        description="POST one context and its candidates to /v1/rank and print the candidates best first "
        "(or the raw JSON with --json). Which fields belong to the context and which to candidates is "
        "the model's schema (GET /v1/model, 'side').",
        epilog='example: ctr rank --context \'{"user_id": 196, "age": 49}\' '
        '--candidates \'[{"item_id": 242}, {"item_id": 51}]\' --top-k 1 --explain',
    )
    rank.add_argument("--file", help="JSON file with {'context': {...}, 'candidates': [...]}; '-' for stdin")
    rank.add_argument("--context", help="the context as a JSON object (overrides the file's)")
    rank.add_argument("--candidates", help="candidates as a JSON list, or @path to a JSON file holding one")
    rank.add_argument("--ids", help="candidate ids of the model's catalog: 242,51 or a JSON list (with or without "
                      "--candidates)")  # fmt: skip
    rank.add_argument("--unknown-ids", choices=("score", "skip"), default=None,
                      help="ids not in the catalog: scored by their id alone, or skipped (default: score)")  # fmt: skip
    rank.add_argument("--top-k", type=int, default=None, help="show only the best k")
    rank.add_argument("--explain", action="store_true", help="print each shown score's exact parts")
    rank.add_argument("--url", default=os.environ.get("CTR_URL", DEFAULT_URL), help="server base URL")
    rank.add_argument("--json", action="store_true", help="print the server's JSON response")
    rank.add_argument("--timeout", type=float, default=10.0, help="seconds")
    rank.set_defaults(run=run_rank)


def run_score(args: argparse.Namespace) -> int:
    try:
        payload = _load_payload(args)
    except (OSError, ValueError) as exc:
        print(f"ctr score: error: {exc}", file=sys.stderr)
        return 2
    payload["report_oov"] = bool(args.report_oov)
    if args.explain:
        payload["explain"] = True
    return call_and_print(args, "score", payload, lambda body: format_scores(payload["records"], body))


def call_and_print(
    args: argparse.Namespace, endpoint: str, payload: dict[str, Any], table: Callable[[Any], str]
) -> int:
    """POST to ``/v1/<endpoint>`` and print a table (or the JSON): 0 ok, 1 refused by the server, 2 unreachable."""
    status, body = post_json(f"{args.url.rstrip('/')}/v1/{endpoint}", payload, args.timeout)
    if status is None:
        print(f"ctr {endpoint}: error: cannot reach {args.url}: {body}", file=sys.stderr)
        return 2
    if args.json or status != 200:
        print(json.dumps(body, indent=2))
        return 0 if status == 200 else 1
    print(table(body))
    return 0


def _load_payload(args: argparse.Namespace) -> dict[str, Any]:
    if args.record is not None:
        return {"records": [json.loads(args.record)]}
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    data = json.loads(text)
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ValueError("expected {'records': [...]} or a JSON list of records")
    return {"records": records}


def post_json(url: str, payload: Any, timeout: float) -> tuple[int | None, Any]:
    """POST JSON with the standard library (the server-only install has no HTTP client package)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (urllib.error.URLError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))


def run_rank(args: argparse.Namespace) -> int:
    try:
        payload = rank_payload(args)
    except (OSError, ValueError) as exc:
        print(f"ctr rank: error: {exc}", file=sys.stderr)
        return 2
    shown = [{"id": i} for i in payload.get("candidate_ids", [])] + payload.get("candidates", [])
    return call_and_print(args, "rank", payload, lambda body: format_ranking(shown, body))


def rank_payload(args: argparse.Namespace) -> dict[str, Any]:
    """The request body from --file and/or --context/--candidates (ValueError when incomplete)."""
    payload: dict[str, Any] = {}
    if args.file is not None:
        payload = json.loads(sys.stdin.read() if args.file == "-" else Path(args.file).read_text())
        if not isinstance(payload, dict):
            raise ValueError("--file must hold a JSON object with 'context' and 'candidates'")
    if args.context is not None:
        payload["context"] = json.loads(args.context)
    if args.candidates is not None:
        text = args.candidates
        payload["candidates"] = json.loads(Path(text[1:]).read_text() if text.startswith("@") else text)
    if args.ids is not None:
        text = args.ids.strip()
        ids = json.loads(text) if text.startswith("[") else [int(i) if i.isdigit() else i for i in text.split(",")]
        payload["candidate_ids"] = ids
    if args.unknown_ids is not None:
        payload["unknown_ids"] = args.unknown_ids
    if not isinstance(payload.get("candidates"), list) and not isinstance(payload.get("candidate_ids"), list):
        raise ValueError("give the candidates as a JSON list (--candidates or --file) or their ids (--ids)")
    if args.top_k is not None:
        payload["top_k"] = args.top_k
    if args.explain:
        payload["explain"] = True
    return payload
