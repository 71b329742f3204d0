"""Fixtures for the CAP tests: the shipped release policies and a gate over two agencies."""

from __future__ import annotations

import pytest
from tests.unit.cap.cap_support import make_gate

from concord.sharing import ReleaseGate, ReleasePolicies


@pytest.fixture(scope="session")
def cap_policies() -> ReleasePolicies:
    return ReleasePolicies.load()


@pytest.fixture
def gate(cap_policies: ReleasePolicies) -> ReleaseGate:
    return make_gate(cap_policies)
