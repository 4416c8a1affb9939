"""``ctr serve``, ``ctr score``, ``ctr rank`` and ``ctr publish``: run the server, call it, feed its Redis
store."""

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

from app.cli_tables import format_scores

DEFAULT_URL = "http://127.0.0.1:8000"


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the active model over HTTP",
        description="Run the scoring server (uvicorn + uvloop + httptools). Every option is also a CTR_* "
        "environment variable (e.g. CTR_MODEL_DIR); see app/settings.py.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--model-dir", default=None, help="model directory or version directory [CTR_MODEL_DIR]")
    serve.add_argument("--version", default=None, help="pin a model version [CTR_MODEL_VERSION]")
    serve.add_argument("--host", default=None, help="bind address [CTR_HOST, default 127.0.0.1]")
    serve.add_argument("--port", type=int, default=None, help="port [CTR_PORT, default 8000]")
    serve.add_argument("--workers", type=int, default=None, help="worker processes [CTR_WORKERS, default 1]")
    serve.set_defaults(run=run_serve)

    score = commands.add_parser(
        "score",
        help="send records to a running server and print their probabilities",
        description="POST records to /v1/score and print a table (or the raw JSON with --json).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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

    publish = commands.add_parser(
        "publish",
        help="copy a model version into Redis and make it the active one",
        description="Write every feature row of an artifact version to Redis (packed float32 under a versioned "
        "namespace, pipelined, with a progress bar), then its model.onnx and manifest (last), then flip the "
        "model's active pointer and notify the servers; versions older than the newest --keep are deleted "
        "(never the active one). Re-running a failed or finished publish is safe. Connection settings come "
        "from CTR_REDIS_* (CTR_REDIS_PASSWORD, CTR_REDIS_USERNAME, CTR_REDIS_TLS_*); see docs/redis.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    publish.add_argument("artifact", help="a version directory, or a model directory (its ACTIVE, else newest)")
    publish.add_argument("--version", default=None, help="version to publish from a model directory")
    publish.add_argument("--model", default=None, help="model name in Redis; unset: the artifact's name")
    publish.add_argument("--redis-url", default=None, help="redis://host:port/db or rediss:// [CTR_REDIS_URL]")
    publish.add_argument("--cluster", action="store_true", default=None, help="Redis Cluster [CTR_REDIS_CLUSTER]")
    publish.add_argument("--shards", type=int, default=32, help="feature shards (hash tags) of the version")
    publish.add_argument("--keep", type=int, default=3, help="newest versions kept (>= 2; the active one always)")
    publish.add_argument("--no-activate", dest="activate", action="store_false", help="publish without activating")
    publish.add_argument("--chunk", type=int, default=20_000, help="rows per pipelined round trip")
    publish.add_argument("--quiet", action="store_true", help="no progress bar")
    publish.set_defaults(run=run_publish)

    from app.rank_cli import register_rank  # it uses call_and_print from here

    register_rank(commands)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.settings import Settings

    overrides = {"MODEL_DIR": args.model_dir, "MODEL_VERSION": args.version, "HOST": args.host,
                 "PORT": args.port, "WORKERS": args.workers}  # fmt: skip
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"CTR_{key}"] = str(value)  # workers are separate processes: pass settings by env
    settings = Settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
    )
    return 0


def run_publish(args: argparse.Namespace) -> int:
    import asyncio

    from pydantic import ValidationError

    from app.errors import StoreUnavailable
    from app.publish import PublishError, publish
    from app.redis_client import connect
    from app.settings import Settings

    overrides = {"redis_url": args.redis_url, "redis_cluster": args.cluster}
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        print(f"ctr publish: error: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2

    async def go() -> Any:
        client = connect(settings)
        try:
            return await publish(
                client, settings.redis_address, args.artifact, version=args.version, model=args.model,
                shards=args.shards, keep=args.keep, activate=args.activate, chunk=args.chunk,
                progress=not args.quiet,
            )  # fmt: skip
        finally:
            await client.aclose()

    try:
        result = asyncio.run(go())
    except (StoreUnavailable, PublishError, ValueError) as exc:
        detail = getattr(exc, "detail", None) or str(exc)
        cause = f" ({exc.__cause__})" if isinstance(exc, StoreUnavailable) and exc.__cause__ else ""
        print(f"ctr publish: error: {detail}{cause}", file=sys.stderr)
        return 2
    state = "already complete" if result.skipped else f"{result.features} rows, {result.bytes / 2**20:.1f} MiB"
    print(f"published {result.model} version {result.version} to {settings.redis_address}: {state} "
          f"in {result.seconds:.1f} s")  # fmt: skip
    if result.activated:
        print(f"active version of {result.model}: {result.version}")
    if result.collected:
        print(f"deleted old versions: {', '.join(result.collected)}")
    return 0


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
