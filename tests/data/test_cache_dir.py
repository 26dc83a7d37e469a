"""cache_dir: $ROBUSTMQ_HOME, else the platform's user cache folder."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from robustmq.data import cache_dir


class TestCacheDir:
    def test_env_override(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """$ROBUSTMQ_HOME, when set, is the cache folder."""
        monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "home"))
        assert cache_dir() == tmp_path / "home"

    @pytest.mark.parametrize("value", [None, "", "  "])
    def test_default(self, monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
        """Unset or blank $ROBUSTMQ_HOME means platformdirs' user cache folder for robustmq."""
        if value is None:
            monkeypatch.delenv("ROBUSTMQ_HOME", raising=False)
        else:
            monkeypatch.setenv("ROBUSTMQ_HOME", value)
        assert cache_dir() == Path(platformdirs.user_cache_dir("robustmq"))

    def test_not_created(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """cache_dir() only names the folder; it creates nothing."""
        monkeypatch.setenv("ROBUSTMQ_HOME", str(tmp_path / "later"))
        assert not cache_dir().exists()
