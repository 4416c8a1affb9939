"""Steady mixed traffic at a fixed rate, for watching the dashboards fill (compose's ``load`` service).

    python -m load_tests.steady_load --url http://127.0.0.1:8000 --rate 200 --seconds 60

Real MovieLens-100k test-split records, Zipf-skewed by user (load_tests/skewed.py), sent open loop
(load_tests/loadgen.py): /v1/score with one record (most requests) or 16, /v1/rank with 20
candidates, and a small share of invalid bodies (so the error panels have something to show).
Bounded: ``--seconds`` and at most 64 requests in flight per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import urllib.parse
from collections import Counter
from typing import Any

import orjson

from load_tests.loadgen import open_loop
from load_tests.skewed import movielens_test_records, zipf_sample

CONTEXT_KEYS = ("user_id", "age", "gender", "occupation", "zip_code")
BAD_BODIES = [b'{"records": []}', b'{"records": [{"item_id": 1}]}', b"not json"]


def request_mix(records: list[dict[str, Any]], seed: int = 0, bad_share: float = 0.02) -> dict[str, list[bytes]]:
    """Bodies per path: /v1/score (1 or 16 records, some invalid) and /v1/rank (20 candidates)."""
    rng = random.Random(seed)
    sample = zipf_sample(records, 4000, exponent=1.1, seed=seed)
    score = [orjson.dumps({"records": [r]}) for r in sample[:2000]]
    score += [orjson.dumps({"records": sample[i : i + 16]}) for i in range(2000, 4000, 16)][:100]
    score += [rng.choice(BAD_BODIES) for _ in range(int(bad_share * len(score)))]
    rng.shuffle(score)
    rank = []
    for i in range(200):
        context = {k: sample[i][k] for k in CONTEXT_KEYS if k in sample[i]}
        candidates = [{k: v for k, v in r.items() if k not in CONTEXT_KEYS} for r in rng.sample(sample, 20)]
        rank.append(orjson.dumps({"context": context, "candidates": candidates}))
    return {"/v1/score": score, "/v1/rank": rank}


async def send(url: str, bodies: dict[str, list[bytes]], rate: float, seconds: float,
               rank_share: float = 0.1) -> dict[str, dict[str, Any]]:  # fmt: skip
    """``rate`` requests/s for ``seconds``, ``rank_share`` of them to /v1/rank; statuses per path."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    rates = {"/v1/score": rate * (1 - rank_share), "/v1/rank": rate * rank_share}
    # Connections are reused in turn: keep the pool small enough that none idles past the server's
    # keep-alive timeout (uvicorn: 5 s), or the next request on it finds it closed.
    runs = [open_loop(host, port, path, bodies[path], rate=r, seconds=seconds, max_in_flight=max(4, min(64, int(r))))
            for path, r in rates.items() if r > 0]  # fmt: skip
    results = await asyncio.gather(*runs)
    out = {}
    for path, result in zip(rates, results, strict=False):
        out[path] = dict(Counter(result.statuses))
        if result.errors:
            out[path]["first_errors"] = sorted(set(result.errors))[:3]  # type: ignore[assignment]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server (or load balancer)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long")
    parser.add_argument("--rank-share", type=float, default=0.1, help="share of requests sent to /v1/rank")
    args = parser.parse_args(argv)
    bodies = request_mix(movielens_test_records())
    statuses = asyncio.run(send(args.url, bodies, args.rate, args.seconds, args.rank_share))
    print(orjson.dumps(statuses).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
