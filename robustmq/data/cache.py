"""Where RobustMQ keeps generated data and checkpoints: ``$ROBUSTMQ_HOME`` or the user cache."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["ENV_HOME", "cache_dir"]

#: Environment variable that overrides the cache folder.
ENV_HOME = "ROBUSTMQ_HOME"


def cache_dir() -> Path:
    """``$ROBUSTMQ_HOME`` if set and non-empty, else the platform's user cache folder for robustmq.

    The folder is not created here; callers create what they write.
    """
    home = os.environ.get(ENV_HOME, "").strip()
    if home:
        return Path(home).expanduser()
    return Path(platformdirs.user_cache_dir("robustmq"))
