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


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bits", "9"], "--bits"),
        (["--repeats", "0"], "--repeats"),
        (["--shape", "1", "0", "2", "2"], "--shape"),
    ],
)
def test_out_of_range_options_are_usage_errors_naming_the_option(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        perf.main(["quantizer", *args])
    assert exc.value.code == 2
    assert named in capsys.readouterr().err
