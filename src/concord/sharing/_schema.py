"""The Cedar schema the release policies are validated against when the gate starts.

Entities: the viewer (``User``), the record (``Record``) and one of its fields (``Field``). Levels are
ranks on the deployment's classification ladder (``-1`` for a clearance the ladder does not know).
``record_categories`` are the marking's categories that no field of the record carries, so they
apply to the record as a whole. A field's ``category`` is ``""`` when the field is not sensitive.
The context carries the live-or-exercise session, whether the viewer is a named TLP:RED recipient,
and the state of the agreements from the originator to the viewer's agency at the time asked about.
"""

from __future__ import annotations

__all__ = ["SCHEMA"]

SCHEMA = """
namespace Concord {
  entity User = {
    agency: String,
    agency_kind: String,
    clearance: Long,
    categories: Set<String>,
    roles: Set<String>,
  };
  entity Record = {
    kind: String,
    originator: String,
    rel_to: Set<String>,
    classification: Long,
    tlp: String,
    categories: Set<String>,
    record_categories: Set<String>,
    exercise: Bool,
  };
  entity Field = {
    name: String,
    category: String,
    record: Record,
  };
  type AgreementState = {
    status: String,
    categories: Set<String>,
    fields: Set<String>,
  };
  type ReleaseContext = {
    exercise_session: Bool,
    named_recipient: Bool,
    agreement: AgreementState,
  };
  action view appliesTo {
    principal: User,
    resource: Record,
    context: ReleaseContext,
  };
  action "view-field" appliesTo {
    principal: User,
    resource: Field,
    context: ReleaseContext,
  };
}
"""
