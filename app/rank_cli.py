"""``ctr rank``: send one context and its candidates to a running server and print them best first."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.cli import DEFAULT_URL, call_and_print
from app.cli_tables import format_ranking


def register_rank(commands: Any) -> None:
    rank = commands.add_parser(
        "rank",
        help="rank candidates for one context on a running server",
        description="POST one context and its candidates to /v1/rank and print the candidates best first "
        "(or the raw JSON with --json). Which fields belong to the context and which to candidates is "
        "the model's schema (GET /v1/model, 'side').",
        epilog='example: ctr rank --context \'{"user_id": 196, "age": 49}\' '
        '--candidates \'[{"item_id": 242}, {"item_id": 51}]\' --top-k 1 --explain',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    rank.add_argument("--file", help="JSON file with {'context': {...}, 'candidates': [...]}; '-' for stdin")
    rank.add_argument("--context", help="the context as a JSON object (overrides the file's)")
    rank.add_argument("--candidates", help="candidates as a JSON list, or @path to a JSON file holding one")
    rank.add_argument("--top-k", type=int, default=None, help="show only the best k")
    rank.add_argument("--explain", action="store_true", help="print each shown score's exact parts")
    rank.add_argument("--url", default=os.environ.get("CTR_URL", DEFAULT_URL), help="server base URL")
    rank.add_argument("--json", action="store_true", help="print the server's JSON response")
    rank.add_argument("--timeout", type=float, default=10.0, help="seconds")
    rank.set_defaults(run=run_rank)


def run_rank(args: argparse.Namespace) -> int:
    try:
        payload = rank_payload(args)
    except (OSError, ValueError) as exc:
        print(f"ctr rank: error: {exc}", file=sys.stderr)
        return 2
    return call_and_print(args, "rank", payload, lambda body: format_ranking(payload["candidates"], body))


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
    if not isinstance(payload.get("candidates"), list):
        raise ValueError("give the candidates as a JSON list (--candidates or --file)")
    if args.top_k is not None:
        payload["top_k"] = args.top_k
    if args.explain:
        payload["explain"] = True
    return payload
