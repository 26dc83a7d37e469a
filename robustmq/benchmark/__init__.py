"""The pytest runtime: plugin, options, settings, context, harness, session, gate and workers.

The top layer: it reads the family registry (:mod:`robustmq.results.family`), runs the
families' cells (:mod:`.harness`) and writes results through :mod:`robustmq.results`.
"""
