"""Fixtures shared by the sandbox server tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from sandbox.msp import generate
from sandbox.servers import Sandbox


@pytest.fixture(scope="module")
def generated() -> Iterator[Sandbox]:
    """The three servers over the generated `small` MSP (one per test module)."""
    with Sandbox(generate("small", seed=42, today=dt.date(2025, 6, 15))) as sb:
        yield sb
