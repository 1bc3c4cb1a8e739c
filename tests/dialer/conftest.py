from __future__ import annotations

import pytest
from support.dialer import Lab, new_lab


@pytest.fixture
def lab() -> Lab:
    return new_lab()
