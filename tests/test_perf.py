"""robustmq.perf prints its tables (figures are printed, never asserted)."""

from __future__ import annotations

import pytest

from robustmq import perf


def test_quantizer_table_prints_every_family_and_the_reference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert perf.main(["quantizer", "--shape", "2", "4", "8", "8", "--repeats", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("|")[1].strip() for line in lines if line.startswith("| ")][1:]
    assert rows == ["dorefa", "lsq", "pact", "(one relu, for scale)"]
