"""The built-in noise families, registered in :data:`robustmq.results.family.FAMILIES` here.

``clean`` (no noise: the reference), ``adversarial`` (attacks), ``natural`` (ImageNet-C
corruptions) and ``systematic`` (decoders and resize methods). Each family is a subpackage with
its components, its metrics, a per-model summary and a ``family`` module implementing the
:class:`~robustmq.results.family.Family` contract. Importing this package registers the four.
"""

from robustmq.noise.adversarial.family import AdversarialFamily
from robustmq.noise.clean import CleanFamily
from robustmq.noise.natural.family import NaturalFamily
from robustmq.noise.systematic.family import SystematicFamily
from robustmq.results.family import FAMILIES, register_family

__all__ = ["AdversarialFamily", "CleanFamily", "NaturalFamily", "SystematicFamily"]

for _family in (CleanFamily(), AdversarialFamily(), NaturalFamily(), SystematicFamily()):
    if _family.name not in FAMILIES:
        register_family(_family)
