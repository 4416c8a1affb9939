"""What a running server holds: settings, metrics and the current model (swapped as a whole)."""

from __future__ import annotations

from dataclasses import dataclass

from app.metrics import Metrics
from app.scoring.model import ScoringModel
from app.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    metrics: Metrics
    model: ScoringModel | None = None
    not_ready_reason: str = "starting"
