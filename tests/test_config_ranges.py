"""Issue 18's new keys are checked for their meaning: a share outside [0, 1] or a negative
label noise is a usage error (exit 2 with one sentence), not a silent nonsense result."""

from __future__ import annotations

import pytest

from sodaudit.config import Config
from sodaudit.errors import ConfigError


@pytest.mark.parametrize(
    "assignment",
    [
        "sizes.label_noise_sigma_px=-1",
        "sizes.label_noise_min_p=0",
        "sizes.label_noise_min_p=1.5",
        "sizes.label_noise_warn_share=2",
        "splits.leakage_warn_share=-0.1",
        "integrity.dense_small_share=1.01",
    ],
)
def test_out_of_range(assignment: str):
    key = assignment.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Config().with_overrides([assignment])


@pytest.mark.parametrize("assignment", ["sizes.label_noise_sigma_px=0", "sizes.label_noise_min_p=1"])
def test_bounds_themselves_are_allowed(assignment: str):
    Config().with_overrides([assignment])
