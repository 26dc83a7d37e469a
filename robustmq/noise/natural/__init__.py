"""Natural corruptions: the 15 ImageNet-C corruptions x 5 severities (Hendrycks & Dietterich 2019).

- :mod:`.corruptions`: the registry (names, groups) and :func:`~.corruptions.corrupt_image`,
  seeded per image from (run seed, sample id, corruption, severity), with ImageNet-C's or
  CIFAR-10-C's parameter table (:mod:`.cifar_c`: the latter, cited from the authors' script);
- :mod:`.scales`: each profile's corruption scale (which table, applied at which image size);
- :mod:`.generate`: corrupted sets generated once (process pool, file lock) into the disk cache;
- :mod:`.imagenet_c`: the reader of the released files (``--rmq-imagenet-c DIR``);
- :mod:`.sets`: what a cell reads, once per process per (corruption, severity);
- :mod:`.metrics` and :mod:`.summary`: per-corruption accuracy, group means, mNR, mCE, relative mCE;
- :mod:`.family`: the family (cells, shared sets, one evaluation per cell);
- :mod:`.perf`: ``python -m robustmq.noise.natural.perf``, generation throughput, and
  ``... perf fidelity --profile P``, a scale's RMS distortion against its reference
  (:mod:`.fidelity`).
"""
