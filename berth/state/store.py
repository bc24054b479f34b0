"""The small state file of a deployment: step stamps and config hashes applied by restarts.

Labels are fixed when a container is created, so after a restart-only change the loaded config hash is
recorded here (keyed by container id: a recreated container falls back to its label).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from berth.private import write_private

_LOCK = threading.Lock()


class StateStore:
    def __init__(self, deployment_dir: Path) -> None:
        self.path = deployment_dir / "state.json"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {"stamps": {}, "applied": {}, "pins": {}}
        if not isinstance(data, dict):
            return {"stamps": {}, "applied": {}, "pins": {}}
        for section in ("stamps", "applied", "pins"):
            data.setdefault(section, {})
        return data

    def _update(self, section: str, key: str, value: str | None) -> None:
        with _LOCK:
            data = self.read()
            if value is None:
                data[section].pop(key, None)
            else:
                data[section][key] = value
            write_private(self.path, json.dumps(data, indent=1, sort_keys=True))

    def set_stamp(self, step_id: str, stamp: str | None) -> None:
        self._update("stamps", step_id, stamp)

    def set_applied(self, container_id: str, config_hash: str | None) -> None:
        self._update("applied", container_id, config_hash)

    def set_pin(self, service: str, tag: str | None) -> None:
        """Keep `service` on image tag `tag` (None: follow globals image_tag again)."""
        self._update("pins", service, tag)
