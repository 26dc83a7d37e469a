"""The package version (read by pyproject.toml and stored in every checkpoint and record)."""

__version__ = "0.1.0"
