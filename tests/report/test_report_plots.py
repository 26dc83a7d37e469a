"""robustmq report: table.md, results.csv and the PNG plots of a tiny fabricated run."""

from __future__ import annotations

import pytest

from robustmq.cli import main
from robustmq.report import load_run, write_plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run_folder(tmp_path, make_record, make_run):  # type: ignore[no-untyped-def]
    """resnet18 float and LSQ 2/4-bit: clean, two systematic variants, one full corruption."""
    records = []
    for q, b, acc in (("fp32", None, 0.8), ("lsq", 2, 0.5), ("lsq", 4, 0.7)):
        records.append(make_record("resnet18", q, b, accuracy=acc))
        for variant in ("resize_pil_nearest", "decoder_pil"):
            records.append(make_record("resnet18", q, b, "systematic", variant, acc - 0.1))
        for s in range(1, 6):
            records.append(
                make_record(
                    "resnet18",
                    q,
                    b,
                    "natural",
                    f"fog-s{s}",
                    acc - 0.05 * s,
                    params={"corruption": "fog", "severity": s},
                )
            )
    records.append(make_record("resnet50", "lsq", 4, accuracy=0.3, flags=["not_converged"]))
    return make_run(tmp_path / "run", records)


class TestPlots:
    def test_plots_per_architecture(self, run_folder, tmp_path) -> None:  # type: ignore[no-untyped-def]
        """Four PNGs for resnet18; resnet50 (clean only) gets heatmaps and lines, no bar charts."""
        run = load_run(run_folder)
        result = write_plots(tmp_path / "plots", run.records)
        names = sorted(p.name for p in result.paths)
        assert names == [
            "resnet18-corruptions.png",
            "resnet18-heatmaps.png",
            "resnet18-systematic.png",
            "resnet18-vs-bits.png",
            "resnet50-heatmaps.png",
            "resnet50-vs-bits.png",
        ]
        assert all(p.read_bytes().startswith(PNG) for p in result.paths)
        assert [name for name, _ in result.skipped] == [
            "resnet50-corruptions",
            "resnet50-systematic",
        ]


class TestReportCommand:
    def test_regenerates_tables_and_plots(self, run_folder, capsys) -> None:  # type: ignore[no-untyped-def]
        """``robustmq report DIR`` rewrites table.md and results.csv and fills DIR/plots/."""
        (run_folder / "table.md").unlink()
        (run_folder / "results.csv").unlink()
        assert main(["report", str(run_folder)]) == 0
        out = capsys.readouterr().out
        table = (run_folder / "table.md").read_text()
        assert "| resnet18 | fp32 | - | 80.0 |" in table
        assert "accs" in table  # the systematic summary, recomputed
        assert (run_folder / "results.csv").read_text().startswith("cell,arch,quantizer")
        assert (run_folder / "plots" / "resnet18-heatmaps.png").read_bytes().startswith(PNG)
        assert f"wrote {run_folder / 'plots' / 'resnet18-vs-bits.png'}" in out
        assert "no plot resnet50-corruptions: no natural corruption" in out

    def test_no_plots(self, run_folder) -> None:  # type: ignore[no-untyped-def]
        """--no-plots writes only the tables."""
        assert main(["report", str(run_folder), "--no-plots"]) == 0
        assert not (run_folder / "plots").exists()
