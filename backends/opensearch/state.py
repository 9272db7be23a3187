"""The provisioning state file: ids of what setup created on the cluster, and nothing secret.

Written atomically with mode 0600 (:func:`thinkpane.backends.files.write_private`) the moment an id comes back,
so a crash or Ctrl-C between two calls never loses track of a resource: the next run reuses
it, and teardown knows what to delete.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from thinkpane.backends.files import write_private

VERSION = 1


@dataclass
class ProvisionState:
    url: str = ""
    model_group_id: str | None = None
    model_group_name: str | None = None
    connector_id: str | None = None
    # What the connector was created for; a change means a new connector is needed.
    connector_endpoint: str | None = None
    connector_model: str | None = None
    model_id: str | None = None
    deploy_task_id: str | None = None
    # Cluster settings setup changed (teardown leaves them; the summary lists them).
    changed_settings: dict[str, Any] = field(default_factory=dict)

    def resource_ids(self) -> dict[str, str]:
        return {
            name: value
            for name, value in (
                ("model_id", self.model_id),
                ("connector_id", self.connector_id),
                ("model_group_id", self.model_group_id),
            )
            if value
        }

    def is_empty(self) -> bool:
        return not self.resource_ids()


class StateFile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> ProvisionState:
        """The saved state; an empty one if the file is missing. Unknown keys are ignored."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ProvisionState()
        if not isinstance(data, dict):
            raise ValueError(f"{self.path} is not a JSON object")
        known = {f.name for f in fields(ProvisionState)}
        return ProvisionState(**{k: v for k, v in data.items() if k in known})

    def save(self, state: ProvisionState) -> None:
        payload = json.dumps({"version": VERSION, **asdict(state)}, indent=2, sort_keys=True)
        write_private(self.path, payload + "\n")

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
