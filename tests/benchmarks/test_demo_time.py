"""The demo timing benchmark's settings: modes are checked before any demo runs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from benchmarks.tools.demo_time import DemoTimeConfig, _env


def test_modes_parse_in_order() -> None:
    cfg = DemoTimeConfig(modes=" before, after ,")
    assert cfg.mode_list() == ["before", "after"]


def test_unknown_mode_is_rejected_up_front() -> None:
    # a typo used to run the whole demo with the current defaults, then fail building its row
    with pytest.raises(ValidationError, match="bfore"):
        DemoTimeConfig(modes="after,bfore")


def test_before_mode_spins_openmp_threads() -> None:
    assert _env("before")["OMP_WAIT_POLICY"] == "ACTIVE"
    assert "OMP_WAIT_POLICY" not in _env("after")
