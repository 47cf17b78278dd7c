"""One job = one stage of the benchmark in one process: what the process needs to know."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TABLES = ("transactions", "feedback", "tickets", "customers", "events")


@dataclass(frozen=True)
class Job:
    """What a stage process needs to know (picklable)."""

    stage: str  # the stage function (a key of STAGE_FUNCTIONS)
    key: str  # its name in the results (e.g. "train_cap_50000" for a cap-study run)
    data_dir: str
    customers: int
    seed: int
    cap: int | None = None
    candidates: tuple[str, ...] | None = None
    config: str | None = None  # a TOML config for labels, training, model and scoring settings
    rest_seconds: float = 8.0  # the REST stage: at most this long per server x size x clients
    events: str = "default"  # the generator's engagement log: default, thin or none

    @property
    def raw(self) -> Path:
        return Path(self.data_dir)

    @property
    def validated(self) -> Path:
        return Path(self.data_dir) / "validated"

    @property
    def run(self) -> Path:
        return Path(self.data_dir) / "run"
