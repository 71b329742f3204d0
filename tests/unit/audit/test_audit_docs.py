"""docs/audit.md stays in step with the code: the problem codes and the stand-alone proof checkers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from concord.adapters.clock import ManualClock
from concord.audit import PROBLEM_CODES, AuditEvent, AuditLog, MemoryAuditStore, ProblemCode, Signer

DOC = Path(__file__).resolve().parents[3] / "docs" / "audit.md"


def test_problem_codes_in_the_docs_match_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("| problem code | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.M)
    assert documented == list(PROBLEM_CODES)
    assert set(get_args(ProblemCode)) == set(PROBLEM_CODES)


def _doc_checkers() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the auditor's own checker, as published
    return namespace


def test_the_published_checkers_accept_real_proofs_and_refuse_wrong_ones() -> None:
    checkers = _doc_checkers()
    check_inclusion, check_consistency = checkers["check_inclusion"], checkers["check_consistency"]
    store = MemoryAuditStore()
    log = AuditLog(store, Signer.generate(), ManualClock())
    roots = {}
    for i in range(40):
        log.append(AuditEvent(actor="a", agency="BP", action="write", record_kind="zone", record_id=str(i)))
        roots[i + 1] = log.sign_head().root_hash
    for size in (1, 2, 3, 7, 8, 9, 31, 40):
        for seq in range(size):
            proof = log.inclusion_proof(seq, size)
            data = store.entries[seq].entry_json
            assert check_inclusion(data, seq, size, list(proof.path), roots[size])
            assert not check_inclusion(data + b" ", seq, size, list(proof.path), roots[size])
            if size > 1:
                assert not check_inclusion(data, seq, size, list(proof.path), roots[size - 1])
        for old in range(1, size + 1):
            path = list(log.consistency_proof(old, size).path)
            assert check_consistency(old, size, roots[old], roots[size], path)
            if old < size:
                assert not check_consistency(old, size, roots[size], roots[size], path)
