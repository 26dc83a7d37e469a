"""Multi-node flow through pytester: pytest-split shards of one benchmark merge into one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import robustmq.noise  # noqa: F401  (registers the families outside the in-process runs' snapshots)
from robustmq.cli import main

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "test_clean.py"
SMALL = "resnet18 and (fp32 or (lsq and 4bit) or (dorefa and 2bit))"


def _cells(folder: Path) -> dict[str, dict[str, object]]:
    return {r["cell"]: r for r in json.loads((folder / "results.json").read_text())["results"]}


def test_two_shards_merge_into_the_serial_run(  # type: ignore[no-untyped-def]
    pytester: pytest.Pytester, assets, capsys
) -> None:
    """Shards ``--splits 2 --group 1/2`` and ``robustmq merge`` give the serial run's cells."""
    pytester.makepyfile(test_clean=BENCH.read_text())
    common = [
        *("-p", "no:cacheprovider", "-k", SMALL),
        *(f"--rmq-data-root={assets['data']}", f"--rmq-checkpoints={assets['ckpt']}"),
        *("--rmq-n-samples=30", "--rmq-device=cpu"),
    ]
    for args in (
        ["--rmq-output=serial"],
        *(["--splits=2", f"--group={g}", f"--rmq-output=node{g}"] for g in (1, 2)),
    ):
        result = pytester.runpytest_inprocess(*common, *args)
        assert result.ret == 0, result.stdout.str()
    root = pytester.path
    node1, node2 = _cells(root / "node1"), _cells(root / "node2")
    assert node1
    assert node2
    assert not set(node1) & set(node2)
    code = main(["merge", str(root / "node1"), str(root / "node2"), "--output", str(root / "all")])
    assert code == 0, capsys.readouterr().err
    merged, serial = _cells(root / "all"), _cells(root / "serial")
    assert sorted(merged) == sorted(serial)
    assert len(merged) == 3
    for cell, record in serial.items():
        assert merged[cell]["metrics"] == record["metrics"]
        assert merged[cell]["correct"] == record["correct"]
