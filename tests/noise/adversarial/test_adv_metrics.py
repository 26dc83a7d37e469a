"""Robust accuracy, AR, WCAR, class-balanced subsets, cells and the per-model summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robustmq.data.profiles import get_profile
from robustmq.exceptions import InvalidOptionError, UnknownNameError
from robustmq.noise.adversarial import (
    adversarial_cells,
    adversarial_rate,
    balanced_subset,
    make_attack,
    robust_accuracy,
    wcar,
)
from robustmq.noise.adversarial.masking import BUDGET_NONMONOTONIC
from robustmq.noise.adversarial.summary import summarize_adversarial
from robustmq.results.record import Record, pack_correct

MakeRecord = Callable[..., Record]
Attacked = Callable[..., Record]

bools = st.lists(st.booleans(), min_size=1, max_size=40)


class TestMetrics:
    @given(data=st.data(), clean=bools)
    def test_wcar_is_at_most_every_ar(self, data: st.DataObject, clean: list[bool]) -> None:
        """WCAR <= min AR, and equals AR for a single attack; AR is over clean-correct samples."""
        c = torch.tensor(clean)
        attacks = [
            torch.tensor(data.draw(st.lists(st.booleans(), min_size=len(c), max_size=len(c)))) & c
            for _ in range(data.draw(st.integers(1, 4)))
        ]
        ars = [adversarial_rate(c, a) for a in attacks]
        assert wcar(c, attacks) <= min(ars) + 1e-12
        assert wcar(c, attacks[:1]) == pytest.approx(ars[0])
        n_clean = int(c.sum())
        assert ars[0] == (int(attacks[0].sum()) / n_clean if n_clean else 0.0)
        assert robust_accuracy(attacks[0]) == pytest.approx(int(attacks[0].sum()) / len(c))

    def test_wcar_rejects_mismatched_samples(self) -> None:
        """Vectors of different lengths are an error naming the shapes."""
        with pytest.raises(InvalidOptionError, match="same samples"):
            wcar(torch.ones(3, dtype=torch.bool), [torch.ones(2, dtype=torch.bool)])

    @given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=60), n=st.integers(1, 70))
    def test_balanced_subset(self, labels: list[int], n: int) -> None:
        """n distinct indices (or all); class counts differ by at most one where classes allow."""
        y = torch.tensor(labels)
        idx = balanced_subset(y, n)
        assert len(idx) == min(n, len(labels))
        assert len(set(idx.tolist())) == len(idx)
        assert idx.tolist() == sorted(idx.tolist())
        counts = {c: int((y[idx] == c).sum()) for c in set(labels)}
        available = {c: labels.count(c) for c in set(labels)}
        low = min(counts.values())
        assert all(
            counts[c] <= low + 1
            or counts[c] == available[c]
            or low == available[min(counts, key=counts.get)]
            for c in counts
        )  # type: ignore[arg-type]


class TestCells:
    def test_synthetic_cells_ids_and_budgets(self) -> None:
        """13 cells: FGSM, PGD L-inf, PGD L2, AutoAttack at 3 budgets + sanity; L2 x crop/224."""
        cells = adversarial_cells(get_profile("synthetic"))
        assert [c.noise for c in cells] == [
            "fgsm_linf-eps0.5",
            "fgsm_linf-eps2",
            "fgsm_linf-eps8",
            "pgd_linf-eps0.5",
            "pgd_linf-eps2",
            "pgd_linf-eps8",
            "pgd_l2-eps0.5",
            "pgd_l2-eps2",
            "pgd_l2-eps8",
            "autoattack_linf-eps0.5",
            "autoattack_linf-eps2",
            "autoattack_linf-eps8",
            "pgd_linf-eps64",
        ]
        l2 = [c for c in cells if c.attack == "pgd_l2"]
        scale = get_profile("synthetic").crop_size / 224
        assert [c.eps for c in l2] == pytest.approx([0.5 * scale, 2 * scale, 8 * scale])
        assert cells[-1].diagnostic
        imagenet = adversarial_cells(get_profile("imagenet"))
        assert [c.eps for c in imagenet if c.attack == "pgd_l2"] == [0.5, 2.0, 8.0]
        assert [c.eps for c in imagenet if c.attack == "fgsm_linf"] == [0.5 / 255, 2 / 255, 8 / 255]

    def test_unknown_attack_suggests_names(self) -> None:
        """An unknown attack name lists the registered ones and suggests the closest."""
        with pytest.raises(UnknownNameError, match="pgd_linf"):
            make_attack("pgd_lnf", 0.1, 10)
        with pytest.raises(InvalidOptionError, match="eps=-1"):
            make_attack("pgd_linf", -1, 10)


@pytest.fixture(scope="session")
def attacked(make_record: MakeRecord) -> Attacked:
    """``attacked(noise, eps, correct, clean, indices, diagnostic=False)``: a cell of
    resnet18-lsq-4bit that attacked the samples ``indices`` (``clean``: their clean correctness)."""

    def build(
        noise: str,
        eps: float,
        correct: list[bool],
        clean: list[bool],
        indices: list[int],
        diagnostic: bool = False,
    ) -> Record:
        return make_record(
            "resnet18",
            "lsq",
            4,
            "adversarial",
            noise,
            None,
            metrics={"robust_accuracy": sum(correct) / len(correct)},
            correct=correct,
            params={"attack": noise.split("-")[0], "eps": eps, "diagnostic": diagnostic},
            settings={
                "adversarial": {
                    "sample_indices": indices,
                    "clean_correct": pack_correct(torch.tensor(clean)),
                }
            },
        )

    return build


class TestSummary:
    def test_wcar_over_the_common_samples(self, attacked: Attacked) -> None:
        """WCAR is the per-sample worst case on one stated sample set: the FGSM/PGD cells on their
        images (``wcar``), with AutoAttack on the images all cells attacked; sanity left out."""
        clean = [True, True, True, False]
        records = [
            attacked("pgd_linf-eps0.5", 0.002, [True, True, False, False], clean, [0, 1, 2, 3]),
            attacked("pgd_linf-eps2", 0.008, [True, False, False, False], clean, [0, 1, 2, 3]),
            attacked("autoattack_linf-eps0.5", 0.002, [True, False], [True, True], [0, 2]),
            attacked("pgd_linf-eps64", 0.25, [False] * 4, clean, [0, 1, 2, 3], diagnostic=True),
        ]
        summary = summarize_adversarial(records, records)
        # PGD on samples 0-3 (0, 1, 2 clean-correct): only 0 survives both budgets
        # with AutoAttack, samples 0 and 2 (both clean-correct): 0 survives everything, 2 does not
        assert summary.values == pytest.approx(
            {"wcar": 1 / 3, "wcar_n": 4, "wcar_autoattack": 0.5, "wcar_autoattack_n": 2}
        )
        assert summary.flags == []

    def test_budget_nonmonotonic_flag(self, attacked: Attacked) -> None:
        """Robust accuracy rising with eps for one attack raises the model-level flag."""
        clean = [True, True]
        records = [
            attacked("fgsm_linf-eps0.5", 0.002, [True, False], clean, [0, 1]),
            attacked("fgsm_linf-eps2", 0.008, [True, True], clean, [0, 1]),
        ]
        assert summarize_adversarial(records, records).flags == [BUDGET_NONMONOTONIC]

    def test_no_adversarial_records(self) -> None:
        """A model without adversarial cells gets an empty summary."""
        assert summarize_adversarial([], []).values == {}
