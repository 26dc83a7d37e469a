"""Systematic noise (RobustART's ImageNet-S): 14 variants of the reference pre-processing pipeline.

Each variant changes one step of the profile's reference pipeline (Pillow decode, Pillow bilinear
resize): the decoder (``decoder_pil`` = the reference, ``decoder_opencv``,
``decoder_ffmpeg``) or the resize method (``resize_pil_*`` and ``resize_opencv_*``). Modules:

- :mod:`.decoders`, :mod:`.resizers`: aliases of :mod:`robustmq.data.decoders` and
  :mod:`robustmq.data.resizers`, the OpenCV and FFmpeg decoders and the OpenCV resizers,
  registered in :data:`robustmq.data.pipeline.DECODERS` / ``RESIZERS`` (imported on first use of
  their names by :class:`~robustmq.data.pipeline.Pipeline`);
- :mod:`.variants`: the 14 variants (:data:`VARIANTS`, :func:`list_variants`);
- :mod:`.sets`: a variant's pre-processed evaluation set, built once and cached on disk;
- :mod:`.metrics`: accuracy per variant, its difference to the reference, ACCs and its spread;
- :mod:`.evaluate`: one benchmark cell (model x variant); :mod:`.family`: the family;
- :mod:`.summary`: the per-model summary (``accs``, ``accs_std``, ``accs_range``);
- :mod:`.perf`: ``python -m robustmq.noise.systematic.perf``, pre-processing throughput.

This package's ``__init__`` imports nothing heavy (no OpenCV, no PyAV).
"""
