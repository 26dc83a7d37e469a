"""The adversarial cells of a profile: attack x budget, their ids, markers and sample counts.

Cell ids end in ``<attack>-eps<token>``: L-inf tokens are in units of 1/255 (``fgsm_linf-eps0.5``),
L2 tokens are the protocol's nominal (224 px) budgets (``pgd_l2-eps2``); the L2 budget applied is
``nominal * profile.adversarial.l2_scale`` (see :class:`robustmq.data.profiles.AdversarialSpec`).
The sanity cell is ``pgd_linf-eps64``: a diagnostic, left out of WCAR. A model that sees another
crop (registered with its own input size) gets the L2 budgets scaled to its crop alike
(:func:`applied_eps`); L-inf budgets are per pixel and do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

from robustmq.data.profiles import Profile

__all__ = ["AdversarialCell", "adversarial_cells", "applied_eps", "eps_token"]

#: marker of each attack (one per attack kind, as registered by the plugin).
MARKERS = {"fgsm_linf": "fgsm", "pgd_linf": "pgd", "pgd_l2": "pgd", "autoattack_linf": "autoattack"}


def eps_token(value: float) -> str:
    """Shortest plain decimal of ``value``: 0.5 -> ``0.5``, 2.0 -> ``2``, 1/7 -> ``0.142857``."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class AdversarialCell:
    """One attack at one budget: ``noise`` is the cell id's suffix, ``eps`` the applied budget."""

    attack: str
    #: the budget as named in the id (1/255 units for L-inf, nominal 224 px value for L2).
    nominal: float
    #: the budget applied, in pixel units of [0, 1] images.
    eps: float
    #: images attacked (a class-balanced subset; None: the whole evaluation set).
    n_samples: int | None
    #: a diagnostic cell (the unbounded sanity check): not part of WCAR.
    diagnostic: bool = False

    @property
    def norm(self) -> str:
        """``linf`` or ``l2``."""
        return "l2" if self.attack.endswith("_l2") else "linf"

    @property
    def noise(self) -> str:
        """``<attack>-eps<token>``, e.g. ``pgd_l2-eps2``."""
        return f"{self.attack}-eps{eps_token(self.nominal)}"

    @property
    def marker(self) -> str:
        """The attack's marker (``fgsm``, ``pgd`` or ``autoattack``)."""
        return MARKERS[self.attack]

    def __str__(self) -> str:
        return self.noise


def adversarial_cells(profile: Profile) -> list[AdversarialCell]:
    """Every adversarial cell of ``profile``: FGSM, PGD L-inf, PGD L2, AutoAttack, sanity."""
    spec = profile.adversarial
    n, n_aa = spec.n_samples, spec.autoattack_samples
    cells = [AdversarialCell("fgsm_linf", e, e / 255, n) for e in spec.linf_eps]
    cells += [AdversarialCell("pgd_linf", e, e / 255, n) for e in spec.linf_eps]
    cells += [AdversarialCell("pgd_l2", e, e * spec.l2_scale, n) for e in spec.l2_eps]
    cells += [AdversarialCell("autoattack_linf", e, e / 255, n_aa) for e in spec.linf_eps]
    e = spec.sanity_linf_eps
    cells.append(AdversarialCell("pgd_linf", e, e / 255, n, diagnostic=True))
    return cells


def applied_eps(cell: AdversarialCell, profile: Profile, crop: int) -> float:
    """The budget ``cell`` applies to a model whose input crop is ``crop`` pixels: ``cell.eps``
    at the profile's crop; an L2 budget at another crop scaled by ``crop / profile.crop_size``
    (so ``nominal * crop / 224`` where the profile's scale is crop / 224)."""
    if cell.norm != "l2" or crop == profile.crop_size:
        return cell.eps
    return cell.nominal * profile.adversarial.l2_scale * crop / profile.crop_size
