"""The SIP tests' lab: the dialer's SIP backend on the real clock, with sipp callees."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.siplab import SipLab

from voiceapp.dialer.clock import RealClock


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[SipLab]:
    clock = RealClock()
    lab = SipLab(clock, tmp_path)
    yield lab
    lab.close()
    clock.close()
