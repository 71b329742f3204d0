"""Fixtures for the sharing tests: the shipped release policies, compiled once."""

from __future__ import annotations

import pytest

from concord.sharing import ReleasePolicies


@pytest.fixture(scope="session")
def policies() -> ReleasePolicies:
    return ReleasePolicies.load()
