"""The results model: records, per-model summaries, the journal, result files and tables.

The low layer every other part reads and writes: the pytest runtime (:mod:`robustmq.benchmark`),
the noise families (:mod:`robustmq.noise`) and the reports (:mod:`robustmq.report`) import it; it
imports none of them.
"""
