"""What a running server holds: settings, metrics and the current model (swapped as a whole)."""

from __future__ import annotations

from dataclasses import dataclass

from app.feedback.log import EventLog
from app.metrics import Metrics
from app.scoring.model import ScoringModel
from app.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    metrics: Metrics
    model: ScoringModel | None = None
    not_ready_reason: str = "starting"
    events: EventLog | None = None  # the impression log (CTR_IMPRESSION_LOG), None when off
    shadow: ScoringModel | None = None  # scored beside the active model after responses (ctr models shadow)
