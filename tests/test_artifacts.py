"""Content-addressed artifacts: atomic writes, the sidecar last, one build whoever asks."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from filelock import FileLock
from hypothesis import given
from hypothesis import strategies as st

from robustmq.artifacts import (
    ensure,
    ensure_one,
    lock_path,
    read_sidecar,
    sidecar_path,
    write_artifact,
)
from robustmq.exceptions import RobustMQError


def _text(text: str) -> Callable[[IO[bytes]], None]:
    def write(f: IO[bytes]) -> None:
        f.write(text.encode())

    return write


def _valid(path: Path) -> str | None:
    """The artifact's text when it is one that ``_builder`` wrote, else None (absent or corrupt)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return text if text.startswith("built:") else None


class _Builder:
    def __init__(self) -> None:
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> str:
        self.calls.append(path)
        text = f"built:{len(self.calls)}"
        write_artifact(path, _text(text))
        return text


class TestWrite:
    def test_a_failing_write_leaves_no_file(self, tmp_path: Path) -> None:
        """The temporary file is removed; nothing appears at the path or beside it."""
        path = tmp_path / "a.npy"

        def fail(f: IO[bytes]) -> None:
            f.write(b"half")
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            write_artifact(path, fail, {"key": "k"})
        assert list(tmp_path.iterdir()) == []

    def test_a_failing_write_keeps_the_old_file_and_drops_its_sidecar(self, tmp_path: Path) -> None:
        """The old bytes stay; without a sidecar they read as incomplete, so they get rebuilt."""
        path = tmp_path / "a.npy"
        write_artifact(path, _text("old"), {"key": "old"})

        def fail(f: IO[bytes]) -> None:
            raise RuntimeError("interrupted")

        with pytest.raises(RuntimeError):
            write_artifact(path, fail, {"key": "new"})
        assert path.read_text() == "old"
        assert read_sidecar(path) is None
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]

    def test_the_sidecar_is_written_last(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Data, then sidecar: a present sidecar means complete data; its JSON keeps key order."""
        path = tmp_path / "set-s1-abc.npy"
        write_artifact(path, _text("old"), {"key": "old"})
        renamed: list[str] = []
        replace = os.replace

        def recording(src: str | Path, dst: str | Path) -> None:
            renamed.append(Path(dst).name)
            replace(src, dst)

        def write(f: IO[bytes]) -> None:
            assert not sidecar_path(path).exists()  # the old one is gone while the data changes
            f.write(b"new")

        monkeypatch.setattr(os, "replace", recording)
        write_artifact(path, write, {"z": 1, "a": [2, 3]})
        assert renamed == ["set-s1-abc.npy", "set-s1-abc.json"]
        assert sidecar_path(path).read_text() == json.dumps({"z": 1, "a": [2, 3]}, indent=1)
        assert read_sidecar(path) == {"z": 1, "a": [2, 3]}

    @pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
    def test_an_absent_corrupt_or_non_object_sidecar_reads_as_none(
        self, tmp_path: Path, content: str | None
    ) -> None:
        path = tmp_path / "a.npy"
        if content is not None:
            sidecar_path(path).write_text(content)
        assert read_sidecar(path) is None

    def test_files_get_the_umask_mode(self, tmp_path: Path) -> None:
        """Not the private mode of a temporary file: other users can read a shared cache."""
        path = tmp_path / "a.npy"
        mask = os.umask(0o022)
        try:
            write_artifact(path, _text("x"), {"k": 1})
        finally:
            os.umask(mask)
        assert path.stat().st_mode & 0o777 == 0o644
        assert sidecar_path(path).stat().st_mode & 0o777 == 0o644


class TestEnsureOne:
    def test_built_once_then_reused(self, tmp_path: Path) -> None:
        path = tmp_path / "deep" / "a.bin"
        build = _Builder()
        assert ensure_one(path, _valid, build) == "built:1"
        assert ensure_one(path, _valid, build) == "built:1"
        assert build.calls == [path]
        assert lock_path(path) == tmp_path / "deep" / "a.bin.lock"

    def test_a_corrupt_artifact_is_rebuilt(self, tmp_path: Path) -> None:
        path = tmp_path / "a.bin"
        path.write_text("garbage")
        build = _Builder()
        assert ensure_one(path, _valid, build) == "built:1"
        assert path.read_text() == "built:1"

    def test_a_failing_build_leaves_nothing_and_the_next_call_builds(self, tmp_path: Path) -> None:
        path = tmp_path / "a.bin"

        def bad_pixels(f: IO[bytes]) -> None:
            raise ValueError("bad pixels")

        def fail(p: Path) -> str:
            write_artifact(p, bad_pixels)
            return "never"

        with pytest.raises(ValueError, match="bad pixels"):
            ensure_one(path, _valid, fail)
        assert not path.exists()
        assert ensure_one(path, _valid, _Builder()) == "built:1"

    def test_a_waiting_caller_rechecks_after_the_lock_and_does_not_build(
        self, tmp_path: Path
    ) -> None:
        """As a second xdist worker: absent at first, built by the lock holder meanwhile."""
        path = tmp_path / "a.bin"
        checked = threading.Event()
        results: list[str] = []
        build = _Builder()

        def validate(p: Path) -> str | None:
            found = _valid(p)
            checked.set()
            return found

        def waiter() -> None:
            results.append(ensure_one(path, validate, build))

        with FileLock(str(lock_path(path))):  # the other process, building
            thread = threading.Thread(target=waiter)
            thread.start()
            assert checked.wait(timeout=30)  # the waiter found nothing and now waits for the lock
            write_artifact(path, _text("built:other"))
        thread.join(timeout=30)
        assert results == ["built:other"]
        assert build.calls == []

    def test_concurrent_callers_build_once(self, tmp_path: Path) -> None:
        path = tmp_path / "a.bin"
        build = _Builder()
        start = threading.Barrier(4)
        results: list[str] = []

        def call() -> None:
            start.wait()
            results.append(ensure_one(path, _valid, build))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert results == ["built:1"] * 4
        assert len(build.calls) == 1

    def test_a_custom_lock(self, tmp_path: Path) -> None:
        lock = tmp_path / "locks" / "source.lock"
        ensure_one(tmp_path / "a.bin", _valid, _Builder(), lock=lock)
        assert lock.parent.is_dir()


class TestEnsure:
    def test_a_key_the_builder_does_not_produce_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(RobustMQError, match="'b'"):
            ensure(["a", "b"], lambda k: None, lambda missing: [("a", 1)], lock=tmp_path / "l")

    @given(
        wanted=st.lists(st.sampled_from("abcdefgh"), max_size=8),
        present=st.sets(st.sampled_from("abcdefgh")),
    )
    def test_builds_exactly_the_missing_keys_once_in_order(
        self, tmp_path_factory: pytest.TempPathFactory, wanted: list[str], present: set[str]
    ) -> None:
        """Every wanted key gets a value; only absent ones are built, in one call, in order."""
        disk = {key: f"old-{key}" for key in present}
        builds: list[list[str]] = []

        def build(missing: list[str]) -> list[tuple[str, str]]:
            builds.append(missing)
            disk.update({key: f"new-{key}" for key in missing})
            return [(key, disk[key]) for key in missing]

        lock = tmp_path_factory.getbasetemp() / "ensure.lock"
        found = ensure(wanted, disk.get, build, lock=lock)
        unique = list(dict.fromkeys(wanted))
        assert list(found) == unique
        assert found == {key: disk[key] for key in unique}
        missing = [key for key in unique if key not in present]
        assert builds == ([missing] if missing else [])
