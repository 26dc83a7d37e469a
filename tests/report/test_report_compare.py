"""robustmq compare: cells added and removed, metric and summary deltas sorted by size."""

from __future__ import annotations

from robustmq.cli import main
from robustmq.report import compare_runs, load_run


def _runs(tmp_path, make_record, make_run):  # type: ignore[no-untyped-def]
    before = [
        make_record(accuracy=0.8),
        make_record("resnet18", "lsq", 4, accuracy=0.6),
        make_record("resnet18", "lsq", 2, accuracy=0.5),
    ]
    after = [
        make_record(accuracy=0.7, correct=[False] + [True] * 6 + [False, True, False]),
        make_record("resnet18", "lsq", 4, accuracy=0.9, flags=["slow"]),
        make_record("resnet18", "pact", 4, accuracy=0.4),
    ]
    return make_run(tmp_path / "a", before), make_run(tmp_path / "b", after, seed=3)


class TestCompare:
    def test_cells_and_deltas(self, tmp_path, make_record, make_run) -> None:  # type: ignore[no-untyped-def]
        """Added/removed cells, deltas largest first, flipped samples counted."""
        a, b = _runs(tmp_path, make_record, make_run)
        result = compare_runs(load_run(a), load_run(b))
        assert result.settings == [("seed", 0, 3)]
        assert result.cells_added == ["resnet18-pact-4bit-clean"]
        assert result.cells_removed == ["resnet18-lsq-2bit-clean"]
        assert result.cells_common == 2
        first, second = result.metric_deltas
        assert (first.key, first.name, round(first.delta or 0, 6)) == (
            "resnet18-lsq-4bit-clean",
            "accuracy",
            0.3,
        )
        assert first.changed_samples == 3
        assert (second.key, round(second.delta or 0, 6)) == ("resnet18-fp32-clean", -0.1)
        # before: 8 leading hits; after: samples 0 and 7 lost, sample 8 gained -> 3 flips
        assert second.changed_samples == 3
        assert result.flag_changes == [("resnet18-lsq-4bit-clean", ["slow"], [])]
        assert result.models_added == ["resnet18-pact-4bit"]

    def test_command_prints_changes(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys
    ) -> None:
        """``robustmq compare A B`` prints the settings, cells and deltas (B - A)."""
        a, b = _runs(tmp_path, make_record, make_run)
        assert main(["compare", str(a), str(b)]) == 0
        out = capsys.readouterr().out
        assert "seed: 0 -> 3" in out
        assert "cells: 1 added, 1 removed, 2 in both, 0 with equal metrics" in out
        assert "+30.00 pp" in out
        assert out.index("+30.00 pp") < out.index("-10.00 pp")
        assert "resnet18-lsq-4bit-clean: +slow" in out

    def test_identical_runs(self, tmp_path, make_record, make_run, capsys) -> None:  # type: ignore[no-untyped-def]
        """A run compared with itself has no differences."""
        a, _ = _runs(tmp_path, make_record, make_run)
        assert main(["compare", str(a), str(a)]) == 0
        assert "no differences" in capsys.readouterr().out
