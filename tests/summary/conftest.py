"""Summary tests build their marts by hand (see marts_builder)."""

from __future__ import annotations

import pytest

from tests.summary.marts_builder import MartsBuilder


@pytest.fixture
def marts() -> MartsBuilder:
    return MartsBuilder()
