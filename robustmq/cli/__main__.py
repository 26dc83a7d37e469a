"""``python -m robustmq.cli``: the ``robustmq`` command (``zoo build --jobs N`` runs it so)."""

from robustmq.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
