"""What the composition root hands every use case: settings, wall clock, workspace, notifier."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.clock import Clock
    from tradeguard.alerts import Notifier
    from tradeguard.failpoints import Failpoint
    from tradeguard.settings import Settings
    from tradeguard.workspace import Workspace


@dataclass(frozen=True)
class App:
    """The runtime of the use cases, built once by `tradeguard.bootstrap.bootstrap`.

    `clock` is the wall clock of the operator's world (audit stamps, file ages, backup names);
    a session's own clock (simulated for replays) is wired per run from its snapshot.
    """

    settings: Settings
    clock: Clock
    workspace: Workspace
    notifier: Notifier
    failpoint: Failpoint | None = None

    def on(self, workspace: Workspace) -> App:
        """Return the same runtime pointed at another workspace (a validation run's)."""
        return replace(self, workspace=workspace)
