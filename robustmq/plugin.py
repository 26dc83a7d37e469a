"""The RobustMQ pytest plugin (entry point ``pytest11``): options and markers of the benchmark."""

from __future__ import annotations

import pytest

#: Markers the benchmark uses, one per noise family.
MARKERS = {
    "clean": "clean-accuracy benchmark cells",
    "adversarial": "adversarial-attack benchmark cells",
    "natural": "natural-corruption benchmark cells",
    "systematic": "systematic-noise benchmark cells",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("robustmq", "RobustMQ robustness benchmark")
    group.addoption(
        "--rmq-seed",
        type=int,
        default=0,
        help="seed of every random choice of the benchmark (default: 0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
