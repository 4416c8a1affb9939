"""``ctr impressions pull``: the Redis-stream impression log (CTR_IMPRESSION_LOG=redis) to daily files.

Several pullers may share a consumer group: each entry goes to one of them, which writes its lines to
the same segment files the file log writes (``app.feedback.segments``) and acknowledges the entry only
once the segment holding it is on disk and visible. Entries a dead puller had taken and not
acknowledged are claimed after ``--claim-idle-seconds``. ``ctr join`` then reads the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

STREAMS = ("impressions", "feedback")


def register(commands: Any) -> None:
    impressions = commands.add_parser(
        "impressions",
        help="the impression log on a Redis stream: pull it into daily files",
        description="Read the impression and feedback streams a server writes with CTR_IMPRESSION_LOG=redis "
        "(ctr:<model>:log:impressions, ctr:<model>:log:feedback) with a consumer group, write them to "
        "<out>/date=YYYY-MM-DD/ segment files, and acknowledge what is on disk. Redis settings: CTR_REDIS_*.",
    )
    actions = impressions.add_subparsers(dest="action", required=True, metavar="<action>")
    pull = actions.add_parser("pull", help="move stream entries into daily files")
    pull.add_argument("--model", default=None, help="model name of the stream [CTR_REDIS_MODEL]")
    pull.add_argument("--out", default="logs", help="directory of the daily files (ctr join --log-dir)")
    pull.add_argument("--group", default="ctr-join", help="consumer group")
    pull.add_argument("--consumer", default=None, help="this puller's name in the group (default: host-pid)")
    pull.add_argument("--batch", type=int, default=500, help="entries per read")
    pull.add_argument("--follow", action="store_true", help="keep pulling; default: stop when the streams are empty")
    pull.add_argument("--claim-idle-seconds", type=float, default=60.0, help="claim entries a dead puller left")
    pull.set_defaults(run=run_pull)


def run_pull(args: argparse.Namespace) -> int:
    import os
    import socket

    import redis

    from app.feedback.segments import SegmentSink
    from app.feedback.stream import stream_key
    from app.settings import Settings

    settings = Settings()
    model = args.model or settings.redis_model
    if not model:
        print("ctr impressions pull: error: give --model (or CTR_REDIS_MODEL)", file=sys.stderr)
        return 2
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    client = redis.Redis.from_url(settings.redis_url, username=settings.redis_username, password=password)
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    sink = SegmentSink(Path(args.out), rotate_seconds=float("inf"))
    keys = {stream_key(model, s): s for s in STREAMS}
    totals = dict.fromkeys(STREAMS, 0)
    try:
        for key in keys:
            try:
                client.xgroup_create(key, args.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        claimed = []
        for key in keys:
            _, entries, _ = client.xautoclaim(
                key, args.group, consumer, int(args.claim_idle_seconds * 1000), count=1000
            )
            claimed.append((key, entries))
        _write(client, sink, keys, args.group, claimed, totals)
        while True:
            reply = client.xreadgroup(args.group, consumer, dict.fromkeys(keys, ">"), count=args.batch,
                                      block=1000 if args.follow else None)  # fmt: skip
            if not reply:
                if not args.follow:
                    break
                continue
            _write(client, sink, keys, args.group, reply, totals)
    except redis.RedisError as exc:
        print(f"ctr impressions pull: error: Redis at {settings.redis_address}: {exc}", file=sys.stderr)
        return 1
    finally:
        sink.close()
        client.close()
    print(f"{args.out}: pulled {totals['impressions']:,} impression and {totals['feedback']:,} feedback lines")
    return 0


def _write(
    client: Any, sink: Any, keys: dict[bytes, str], group: str, reply: list[Any], totals: dict[str, int]
) -> None:
    """Append every entry's lines, make the segments visible, then acknowledge (at least once, never lost)."""
    done: dict[bytes, list[bytes]] = {}
    for key, entries in reply:
        key = key if isinstance(key, bytes) else key.encode()
        for entry_id, fields in entries:
            if fields:  # an entry trimmed away while pending comes back empty
                sink.write(keys[key], fields[b"day"].decode(), fields[b"lines"])
                totals[keys[key]] += fields[b"lines"].count(b"\n")
            done.setdefault(key, []).append(entry_id)
    sink.rotate(force=True)
    for key, ids in done.items():
        client.xack(key, group, *ids)
