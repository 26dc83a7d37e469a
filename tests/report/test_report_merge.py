"""robustmq merge: shards of one run merge; disagreeing settings or numbers are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustmq.cli import main
from robustmq.report import MergeConflictError, load_run, merge_runs, write_merged


def _shards(tmp_path: Path, make_record, make_run, **b_settings) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    fp = make_record()
    a = make_run(tmp_path / "a", [fp, make_record("resnet18", "lsq", 4, accuracy=0.4)])
    b = make_run(
        tmp_path / "b", [fp, make_record("resnet18", "dorefa", 2, accuracy=0.3)], **b_settings
    )
    return a, b


class TestMerge:
    def test_shards_merge_and_identical_duplicates_are_kept_once(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run
    ) -> None:
        """Two shards sharing one identical cell merge into three cells, written to --output."""
        a, b = _shards(tmp_path, make_record, make_run)
        result = merge_runs([load_run(a), load_run(b)])
        assert [r.cell for r in result.records] == [
            "resnet18-dorefa-2bit-clean",
            "resnet18-fp32-clean",
            "resnet18-lsq-4bit-clean",
        ]
        assert result.duplicates == 1
        paths = write_merged(tmp_path / "out", result)
        assert {p.name for p in paths} == {"results.json", "results.csv", "table.md"}
        merged = load_run(tmp_path / "out")
        assert len(merged.records) == 3
        assert [m["source"] for m in merged.run["merged_from"]] == [
            str(a / "results.json"),
            str(b / "results.json"),
        ]
        assert merged.settings["output"] == str(tmp_path / "out")

    def test_paths_and_device_index_do_not_matter(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run
    ) -> None:
        """Folders that differ only in paths, strictness or the CUDA index merge."""
        a = make_run(tmp_path / "a", [make_record()], device="cuda:0")
        b = make_run(
            tmp_path / "b",
            [make_record("resnet18", "lsq", 4)],
            device="cuda:1",
            data_root="/elsewhere",
            zoo_root="/zoo2",
            strict=True,
        )
        assert len(merge_runs([load_run(a), load_run(b)]).records) == 2

    @pytest.mark.parametrize(
        ("key", "value"),
        [("seed", 1), ("n_samples", 200), ("profile", "cifar10"), ("device", "cuda")],
    )
    def test_disagreeing_setting_names_folder_and_key(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, key, value
    ) -> None:
        """A setting that changes the numbers is refused, naming the folder, key and values."""
        a, b = _shards(tmp_path, make_record, make_run, **{key: value})
        with pytest.raises(MergeConflictError) as info:
            merge_runs([load_run(a), load_run(b)])
        message = str(info.value)
        assert str(b / "results.json") in message
        assert f"{key}={value!r}" in message
        assert str(a / "results.json") in message

    def test_ignore_setting_merges_anyway(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run
    ) -> None:
        """--ignore-setting KEY lets a known difference through."""
        a, b = _shards(tmp_path, make_record, make_run, batch_size=64)
        assert len(merge_runs([load_run(a), load_run(b)], ignore=["batch_size"]).records) == 3

    def test_conflicting_duplicate_names_the_cell(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run
    ) -> None:
        """The same cell with other numbers in two folders is an error naming cell and metric."""
        a = make_run(tmp_path / "a", [make_record(accuracy=0.5)])
        b = make_run(tmp_path / "b", [make_record(accuracy=0.6)])
        with pytest.raises(MergeConflictError, match=r"cell resnet18-fp32-clean .*accuracy 0\.5"):
            merge_runs([load_run(a), load_run(b)])

    def test_other_samples_or_checkpoint_refused(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run
    ) -> None:
        """Another evaluation subset, or another checkpoint of the same model, is refused."""
        a = make_run(tmp_path / "a", [make_record()])
        b = make_run(tmp_path / "b", [make_record(noise="x", settings={"sample_ids_sha256": "e"})])
        with pytest.raises(MergeConflictError, match="sample_ids_sha256"):
            merge_runs([load_run(a), load_run(b)])
        c = make_run(tmp_path / "c", [make_record(noise="x", sha="other")])
        with pytest.raises(MergeConflictError, match="model resnet18-fp32: checkpoint sha256"):
            merge_runs([load_run(a), load_run(c)])

    def test_differing_versions_warn(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run
    ) -> None:
        """Library versions that differ are reported, not refused."""
        a = make_run(tmp_path / "a", [make_record()])
        b = make_run(tmp_path / "b", [make_record("resnet18", "lsq", 4)], {"torch": "2.1"})
        result = merge_runs([load_run(a), load_run(b)])
        assert any(w.startswith("library torch differs") for w in result.warnings)

    @pytest.mark.parametrize("name", ["journal.jsonl", "records.jsonl"])
    def test_folder_of_a_dead_run_reads_its_journal(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, name
    ) -> None:
        """A folder without results.json is read from its journal (last line of a cell wins)."""
        lines = [make_record(accuracy=a).to_json() for a in (0.1, 0.2)]
        if name == "journal.jsonl":
            lines = [{"key": "k", "record": r} for r in lines]
        text = "".join(json.dumps(line) + "\n" for line in lines) + '{"cell": "torn'
        (tmp_path / name).write_text(text)
        run = load_run(tmp_path)
        assert [r.metrics["accuracy"] for r in run.records] == [0.2]
        assert run.settings["seed"] == 0


class TestMergeCommand:
    def test_merge_writes_output(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys
    ) -> None:
        """``robustmq merge A B --output OUT`` writes the merged results and says so."""
        a, b = _shards(tmp_path, make_record, make_run)
        assert main(["merge", str(a), str(b), "--output", str(tmp_path / "out")]) == 0
        assert "merged 2 folders: 3 cells" in capsys.readouterr().out
        data = json.loads((tmp_path / "out" / "results.json").read_text())
        assert len(data["results"]) == 3

    def test_refusal_exits_2_naming_folder_and_key(  # type: ignore[no-untyped-def]
        self, tmp_path, make_record, make_run, capsys
    ) -> None:
        """A refused merge writes nothing and exits 2 with the folder and key on stderr."""
        a, b = _shards(tmp_path, make_record, make_run, seed=7)
        assert main(["merge", str(a), str(b), "--output", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert "seed=7" in err
        assert str(b) in err
        assert not (tmp_path / "out").exists()

    def test_missing_folder_is_a_clear_error(self, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
        """A folder without results says what it expected."""
        assert main(["merge", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
        assert "neither results.json nor journal.jsonl" in capsys.readouterr().err
