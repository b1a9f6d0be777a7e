"""What a phase reached last time, as the next run's expected total for its progress line.

One small JSON file per kind under the cache's `expected/` directory
(objects.json, guest-seconds.json, boot-seconds.json), mapping a key (a build
label, a guest name, an accelerator and kernel) to the last value. Only an
estimate: two runs recording at once may lose one value (the last replace
wins), and a missing or unreadable file means no expected total.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness import paths

KEEP = 200  # keys per file; the least recently recorded go first


@dataclass(frozen=True)
class LastTotals:
    path: Path

    @classmethod
    def named(cls, name: str) -> "LastTotals":
        return cls(paths.cache_dir("expected") / f"{name}.json")

    def _load(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {key: value for key, value in data.items() if isinstance(value, (int, float))} \
            if isinstance(data, dict) else {}

    def get(self, key: str) -> float | None:
        return self._load().get(key)

    def record(self, key: str, value: float) -> None:
        data = self._load()
        data.pop(key, None)  # re-inserted last: the most recently recorded
        data[key] = value
        kept = dict(list(data.items())[-KEEP:])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(kept, indent=1) + "\n")
        tmp.replace(self.path)
