"""Where the local world's telemetry lives under the data directory (its own module so the
gateway, the monitor and the stack find the same files without importing each other)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config import Settings


@dataclass(frozen=True)
class TelemetryPaths:
    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def journal(self) -> Path:
        return self.root / "journal.db"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox.db"

    @property
    def tables(self) -> Path:
        return self.root / "tables.db"

    @property
    def status(self) -> Path:
        return self.root / "broker.json"


def telemetry_paths(settings: Settings) -> TelemetryPaths:
    return TelemetryPaths(Path(settings.data_dir) / "telemetry")
