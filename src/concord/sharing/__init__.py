"""Sharing: markings, agreements, the Cedar release policies and ``release()``, the only way out.

Build one :class:`ReleaseGate` at start-up (``ReleasePolicies.load()`` refuses to start on a malformed
policy file) and pass every outgoing record through ``gate.release(record, viewer, at)``. Egress code
accepts only :class:`Released` values, which only the gate makes.
"""

from concord.domain.agreement import (
    DEFAULT_FIELDS,
    Agreement,
    AgreementAmended,
    AgreementRevoked,
    AgreementSet,
    AgreementSigned,
    AgreementVocabulary,
    agreement_event_from_dict,
)
from concord.domain.marking import Marking, MarkingVocabulary, Tlp, check_reshare
from concord.sharing._dryrun import PartnerChange, RecordRef, dry_run
from concord.sharing._gate import AgreementState, ReleaseGate, Visible, VisiblePage, agreement_state
from concord.sharing._outcome import (
    DENY_REASONS,
    DecisionKind,
    DenyReason,
    Explanation,
    FieldRedaction,
    Full,
    Redacted,
    Released,
    ReleaseDecision,
    ReleaseResult,
    Withheld,
)
from concord.sharing._policies import ReleasePolicies
from concord.sharing._records import DEFAULT_FIELD_CATEGORIES, Shareable
from concord.sharing._report import AccessReport, access_report
from concord.sharing._reshare import authorize_reshare
from concord.sharing.base import Gate

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_FIELD_CATEGORIES",
    "DENY_REASONS",
    "AccessReport",
    "Agreement",
    "AgreementAmended",
    "AgreementRevoked",
    "AgreementSet",
    "AgreementSigned",
    "AgreementState",
    "AgreementVocabulary",
    "DecisionKind",
    "DenyReason",
    "Explanation",
    "FieldRedaction",
    "Full",
    "Gate",
    "Marking",
    "MarkingVocabulary",
    "PartnerChange",
    "RecordRef",
    "Redacted",
    "ReleaseDecision",
    "ReleaseGate",
    "ReleasePolicies",
    "ReleaseResult",
    "Released",
    "Shareable",
    "Tlp",
    "Visible",
    "VisiblePage",
    "Withheld",
    "access_report",
    "agreement_event_from_dict",
    "agreement_state",
    "authorize_reshare",
    "check_reshare",
    "dry_run",
]
