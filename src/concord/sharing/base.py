"""The contract of the release gate, for the services and egress channels that depend on it.

:class:`concord.sharing.ReleaseGate` is the one implementation. Depend on this protocol to take a gate
as a collaborator; only the real gate can make the ``Released`` values egress accepts, so a stand-in
cannot widen what goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from concord.domain.identity import Viewer
from concord.sharing._outcome import Explanation, Full, Redacted, Released, ReleaseResult
from concord.sharing._records import Shareable

__all__ = ["Gate"]


class Gate(Protocol):
    """Decides what one viewer may receive of a record at a time (see docs/security.md)."""

    def release(
        self, record: Shareable, viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> ReleaseResult:
        """Released (full or redacted) or Withheld; the same answer ``explain`` gives."""
        ...

    def explain(
        self, record: Shareable, viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> Explanation:
        """Why ``release`` decides as it does: policies, deny reasons, redacted fields."""
        ...

    def release_many(
        self, records: Iterable[Shareable], viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> list[Released[Full] | Released[Redacted]]:
        """Only the released records, in order."""
        ...

    def count_visible(
        self, records: Iterable[Shareable], viewer: Viewer, at: datetime, *, exercise_session: bool = False
    ) -> int:
        """How many records the viewer may see."""
        ...
