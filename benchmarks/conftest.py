"""The repository's benchmark folder: its modules re-export the cells of
:mod:`robustmq.benchmarks` (shipped with the package; ``pytest --pyargs robustmq.benchmarks`` runs
them from anywhere); the RobustMQ plugin (entry point) drives them."""
