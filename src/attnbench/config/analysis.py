"""The ``analysis`` schema: faithfulness analyses of a trained model (``attnbench.analysis``).

``analysis=[kendall,permutation,...]`` chooses measurements; each chosen one is a key holding its options
(the classes below: the one statement of their defaults). The other keys set the whole analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RANKINGS = ["attention", "gradient", "ig", "loo", "random"]


@dataclass
class KendallConfig:
    """Kendall τ-b between token rankings (Jain & Wallace 2019)."""

    alpha: float = 0.05  # significance level of the per-example test
    pairs: list[list[str]] = field(
        default_factory=lambda: [
            ["attention", "gradient"],
            ["attention", "loo"],
            ["attention", "ig"],
            ["gradient", "loo"],
        ]
    )


@dataclass
class PermutationConfig:
    """Attention weights shuffled over the valid tokens (Jain & Wallace 2019)."""

    n_perm: int = 100
    threshold: float = 0.05  # the summary counts examples whose median output TVD is below it


@dataclass
class AdversarialConfig:
    """Jain & Wallace's adversarial attention search (their AdversaryMulti)."""

    k: int = 5  # candidates per example
    steps: int = 500  # Adam steps
    lr: float = 0.01
    penalty: float = 500.0  # λ on relu(TVD − epsilon)
    epsilon: float = 0.01  # output TVD the loss tolerates
    accept: float = 0.05  # output TVD up to which a candidate counts
    noise: float = 3.0  # σ of the Gaussian noise on the log-uniform start
    high: float = 0.5  # the summary counts examples with ε-max JSD above it


@dataclass
class ErasureConfig:
    """Serrano & Smith 2019: erase attention weights until the decision flips."""

    orders: list[str] = field(default_factory=lambda: ["attention", "gradient", "random"])


@dataclass
class EraserConfig:
    """ERASER comprehensiveness and sufficiency (DeYoung et al. 2020)."""

    bins: list[float] = field(default_factory=lambda: [0.01, 0.05, 0.10, 0.20, 0.50])
    rankings: list[str] = field(default_factory=lambda: list(RANKINGS))


@dataclass
class RationaleConfig:
    """Mass on, and rank of, the gold tokens of synthetic tasks."""

    rankings: list[str] = field(default_factory=lambda: list(RANKINGS))


@dataclass
class SeedAgreementConfig:
    """Wiegreffe & Pinter 2019: agreement with the same configuration trained with other seeds."""

    ckpt_paths: list[str] = field(default_factory=list)  # their checkpoints


@dataclass
class AnalysisConfig:
    """``analysis``: the chosen measurements, and settings of the whole analysis."""

    max_examples: int | None = None  # test examples analysed (a seeded random subset); null: all
    batch_size: int = 32  # examples per batch
    chunk: int = 256  # sequences (or attention variants) per model call when inputs are re-run
    ig_steps: int = 50  # integrated gradients: points of the Riemann sum
    # leave-one-out: probability = |Δp| of the predicted class; tvd = TVD of the output distributions
    # (Jain & Wallace's, for their comparison rows); the same for two classes
    loo: str = "probability"
    seed: int = "${seed}"  # type: ignore[assignment]  # permutations, adversaries, random rankings, subset
    device: str = "auto"  # auto (CUDA when there is one) | cpu | cuda | cuda:N
    run_dir: str | None = None  # attnbench-analyze: where analysis/ goes; null: the checkpoint's run
    kendall: KendallConfig | None = None
    permutation: PermutationConfig | None = None
    adversarial: AdversarialConfig | None = None
    erasure: ErasureConfig | None = None
    eraser: EraserConfig | None = None
    rationale: RationaleConfig | None = None
    seed_agreement: SeedAgreementConfig | None = None


# the analysis group's options → their schemas (``conf/analysis/<name>.yaml`` extends ``schema/analysis/<name>``)
MEASUREMENT_SCHEMAS: dict[str, type] = {
    "kendall": KendallConfig,
    "permutation": PermutationConfig,
    "adversarial": AdversarialConfig,
    "erasure": ErasureConfig,
    "eraser": EraserConfig,
    "rationale": RationaleConfig,
    "seed_agreement": SeedAgreementConfig,
}
