"""The run journal: appended per cell, torn lines ignored, keys that follow the settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from robustmq.results.journal import (
    JOURNAL_NAME,
    append_entry,
    cell_key,
    checkpoint_digest,
    read_journal,
)
from robustmq.results.record import Record, library_versions


def test_entries_round_trip_and_a_torn_last_line_is_ignored(
    tmp_path: Path, make_record: Callable[..., Record]
) -> None:
    a, b = (make_record(cell=c).to_json() for c in "ab")
    for record in (a, b):
        record["versions"] = library_versions()
    append_entry(tmp_path, "k1", a)
    append_entry(tmp_path, "k2", b)
    with open(tmp_path / JOURNAL_NAME, "a") as f:
        f.write('{"key": "k3", "record": {"cel')  # a write cut short by a crash
    assert read_journal(tmp_path) == {"k1": a, "k2": b}


def test_a_missing_journal_is_empty(tmp_path: Path) -> None:
    assert read_journal(tmp_path / "none") == {}


def test_the_key_follows_what_changes_numbers_only() -> None:
    """Neutral settings and the GPU index leave the key alone; the rest changes it."""
    settings = {"profile": "synthetic", "n_samples": 100, "seed": 0, "output": "a", "device": "cpu"}
    neutral = {"output"}

    def key(test: str, param: str, values: dict[str, object], sha: str | None) -> str:
        return cell_key(test, param, values, sha, neutral, versions={"torch": "2.0"})

    first = key("test_clean", "resnet18-fp32", settings, "abc")
    assert first == key("test_clean", "resnet18-fp32", {**settings, "output": "b"}, "abc")
    assert first != key("test_clean", "resnet18-fp32", {**settings, "n_samples": 50}, "abc")
    assert first != key("test_clean", "resnet18-fp32", settings, "abd")
    assert first != key("test_clean", "resnet18-lsq-4bit", settings, "abc")
    cuda = {**settings, "device": "cuda:0"}
    assert key("t", "c", cuda, None) == key("t", "c", {**settings, "device": "cuda:1"}, None)
    other = cell_key("test_clean", "resnet18-fp32", settings, "abc", neutral, {"torch": "2.1"})
    assert first != other  # a library version is part of the key


def test_the_neutral_settings_are_the_declared_ones() -> None:
    """The harness's and the families' options declared neutral, and only those."""
    import robustmq.noise  # noqa: F401  (registers the built-in families)
    from robustmq.benchmark.options import neutral_settings

    assert neutral_settings() == {
        *("output", "strict", "resume", "baseline", "save_baseline", "tolerance", "z"),
        *("archs", "quantizers", "bits"),  # restrict the grid; never change a cell's numbers
        "fail_on_masking",
    }


def test_checkpoint_digest_is_the_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"abc")
    assert checkpoint_digest(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert checkpoint_digest(tmp_path / "missing") is None
