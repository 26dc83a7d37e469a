"""The three noise families: ``adversarial`` (attacks), ``natural`` (ImageNet-C corruptions) and
``systematic`` (decoders and resize methods). Each family is a subpackage with its components,
its metrics and a per-model summary registered in :data:`robustmq.results.summary.SUMMARIZERS`.
"""
