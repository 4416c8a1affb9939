"""``ctr models list|show|promote|rollback``: the versions of a model in a directory or in Redis, by hand."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

TARGET_HELP = "a model directory (default: CTR_MODEL_DIR, models/ml100k); --redis: CTR_REDIS_URL, CTR_REDIS_MODEL"


def register(commands: Any) -> None:
    models = commands.add_parser(
        "models",
        help="list, inspect and switch model versions (local directory or Redis)",
        description="The versions of one model and which one servers serve. Switching (promote, rollback) first "
        "checks the version exactly as a server does before swapping it in (every file's sha256, the scorer "
        "built and warmed up), then moves the active pointer; running servers swap within a poll "
        "(CTR_MODEL_POLL_SECONDS / CTR_REDIS_POLL_SECONDS; Redis replicas at once by pub/sub). "
        "Every switch is logged to the model's history. docs/operations.md has the whole flow.",
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="<action>")
    listing = actions.add_parser("list", help="versions with their state and metrics")
    show = actions.add_parser("show", help="one version's manifest summary")
    show.add_argument("version")
    promote = actions.add_parser("promote", help="check a version and make it the active one")
    promote.add_argument("version")
    rollback = actions.add_parser("rollback", help="switch back to the version active before the current one")
    history = actions.add_parser("history", help="every activation: when, which version, by what, why")
    shadow = actions.add_parser("shadow", help="have running servers also score a version, after each answer")
    shadow.add_argument("version", nargs="?", help="the version to score beside the active one")
    shadow.add_argument("--off", action="store_true", help="stop shadow scoring")
    compare = actions.add_parser("compare", help="active vs shadow on the joined feedback: AUC, log loss, calibration")
    compare.add_argument("--joined", type=Path, default=Path("data/joined"), help="ctr join's output directory")
    compare.add_argument("--json", action="store_true", help="print JSON")
    for parser in (listing, show, promote, rollback, history, shadow):
        parser.add_argument("--model-dir", type=Path, default=None, help=TARGET_HELP)
        parser.add_argument("--redis", action="store_true", help="the model in Redis instead of a directory")
        parser.add_argument("--model", default=None, help="model name in Redis [CTR_REDIS_MODEL]")
        parser.add_argument("--json", action="store_true", help="print JSON")
    for parser in (promote, rollback):
        parser.add_argument("--reason", default="", help="recorded in the history")
    models.set_defaults(run=run_models)


def run_models(args: argparse.Namespace) -> int:
    if args.action == "compare":
        from app.versions.compare import compare, format_comparison

        result = compare(args.joined)
        print(json.dumps(result, indent=2) if args.json else format_comparison(result))
        return 0 if result["rows"] else 2
    from app.cli.common import settings_or_none
    from app.errors import StoreUnavailable
    from app.versions.source import VersionRefused

    settings = settings_or_none("models", redis_model=args.model, store="redis" if args.redis else None)
    if settings is None:
        return 2
    try:
        return asyncio.run(_run(args, settings))
    except VersionRefused as exc:
        print(f"ctr models {args.action}: refused: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        print(f"ctr models {args.action}: error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"ctr models {args.action}: error: {exc.detail} ({exc.address or settings.redis_address})",
              file=sys.stderr)  # fmt: skip
        return 1


async def _run(args: argparse.Namespace, settings: Any) -> int:
    from app.versions import registry as reg

    registry = reg.open_registry(settings, args.model_dir, args.redis)
    try:
        if args.action == "list":
            rows = await registry.versions()
            print(json.dumps([r.to_dict() for r in rows], indent=2) if args.json else _table(registry.where, rows))
        elif args.action == "show":
            manifest = await registry.manifest(args.version)
            print(json.dumps(manifest if args.json else _summary(manifest), indent=2))
        elif args.action == "history":
            lines = await registry.history()
            print(json.dumps(lines, indent=2) if args.json else "\n".join(_history_line(h) for h in lines))
        elif args.action == "shadow":
            if (args.version is None) == (not args.off):
                raise LookupError("give a version, or --off")
            await reg.shadow(registry, None if args.off else args.version)
            print(f"{registry.where}: shadow {'off' if args.off else args.version}")
        elif args.action == "promote":
            replaced = await reg.promote(registry, args.version, "promote", args.reason)
            print(f"{registry.where}: active version {args.version} (was {replaced or 'none'})")
        else:
            version, replaced = await reg.rollback(registry, args.reason)
            print(f"{registry.where}: rolled back to {version} (was {replaced or 'none'})")
    finally:
        await registry.close()
    return 0


def _table(where: str, rows: list[Any]) -> str:
    lines = [f"{where}: {len(rows)} version(s)",
             f"  {'version':<26} {'state':<10} {'created':<25} {'test AUC':>8} {'holdout AUC':>11}"]  # fmt: skip
    for r in rows:
        auc, holdout = (_number(r.metrics.get(k)) for k in ("auc", "holdout_auc"))
        lines.append(f"  {r.version:<26} {r.state:<10} {r.created_at or '-':<25} {auc:>8} {holdout:>11}")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _summary(manifest: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "version", "created_at", "split", "metrics", "training", "retrain", "model")
    out = {k: manifest[k] for k in keep if k in manifest}
    out["dataset"] = {k: v for k, v in (manifest.get("dataset") or {}).items() if k != "schema"}
    return out


def _history_line(line: dict[str, Any]) -> str:
    reason = f"  ({line['reason']})" if line.get("reason") else ""
    return f"{line.get('at')}  {line.get('version')}  <- {line.get('previous') or 'none'}  by {line.get('by')}{reason}"
