"""Egress: everything that leaves Concord, built only from values the release gate released.

CAP 1.2 (:mod:`concord.egress.cap`): :func:`build_cap` and :func:`build_cap_message` make one CAP
message of a released alert, :func:`build_atom_feed` an Atom feed of them, and :func:`validate_cap`
checks a message against the OASIS XSD and CAP's business rules.
"""

from concord.egress.cap import (
    CapConfig,
    CapMessage,
    CapProblem,
    build_atom_feed,
    build_cap,
    build_cap_message,
    validate_atom,
    validate_cap,
)

__all__ = [
    "CapConfig",
    "CapMessage",
    "CapProblem",
    "build_atom_feed",
    "build_cap",
    "build_cap_message",
    "validate_atom",
    "validate_cap",
]
