"""Re-sharing: may an agency pass on (under a new marking) a record another agency released to it?"""

from __future__ import annotations

from datetime import datetime

from concord.domain.agreement import AgreementSet
from concord.domain.errors import NotAuthorized
from concord.domain.marking import DEFAULT_LADDER, ClassificationLadder, Marking, Tlp, check_reshare

__all__ = ["authorize_reshare"]


def authorize_reshare(
    agreements: AgreementSet,
    original: Marking,
    new: Marking,
    *,
    by_agency: str,
    at: datetime,
    ladder: ClassificationLadder = DEFAULT_LADDER,
) -> Marking:
    """Return ``new`` if ``by_agency`` may re-share a record marked ``original`` under it.

    The new marking must not widen the original (:class:`InvalidInput` otherwise, from
    :func:`check_reshare`). An agency other than the originator also needs an agreement in force from
    the originator that allows re-sharing, and the record must not be TLP:AMBER+STRICT or TLP:RED
    (:class:`NotAuthorized` otherwise).
    """
    check_reshare(original, new, ladder)
    if by_agency == original.originator:
        return new
    if original.tlp in (Tlp.AMBER_STRICT, Tlp.RED):
        raise NotAuthorized(
            f"TLP:{original.tlp.value} records are not re-shared by recipients",
            details={"field": "tlp"},
        )
    allowing = [
        a for a in agreements.between(original.originator, by_agency) if a.in_force_at(at) and a.may_reshare
    ]
    if not allowing:
        raise NotAuthorized(
            f"no agreement in force lets {by_agency} re-share {original.originator}'s records",
            details={"field": "agreement", "owner": original.originator, "partner": by_agency},
        )
    return new
