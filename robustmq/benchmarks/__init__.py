"""The benchmark's cells, shipped with the package: ``pytest --pyargs robustmq.benchmarks``.

One module per noise family (``test_clean``, ``test_adversarial``, ``test_natural``,
``test_systematic``), each a single test function that the RobustMQ plugin (entry point
``pytest11``) crosses with every model of the grid and every cell of its family. Run them from any
folder where RobustMQ is installed: pytest reads that folder's ``conftest.py`` first, so models
registered there with :func:`robustmq.register_model` join the grid. The repository's
``benchmarks/`` folder re-exports these modules (``pytest benchmarks`` collects the same cells).
"""
