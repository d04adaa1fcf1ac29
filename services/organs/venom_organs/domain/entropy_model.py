"""F-ML-1 / F-ML-2: the entropy model — torch ``Linear(1, 1)`` + sigmoid over total anoms.

threat = sigmoid(w · total_anoms + b), total_anoms = the features' anoms + the
genome's risk anoms. The seed's model ("seed" version) has w = the genome's
ml_weight (0.12 by default) and b = 0, so 5 anoms → sigmoid(0.6) = 0.6457.
A trained version carries its own w and b (fitted with MSE loss and an
optimizer on labelled data) and ignores the genome's ml_weight; every result
reports which version produced it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SEED_VERSION = "seed"


class EntropyModel(torch.nn.Module):
    def __init__(self, weight: float = 0.12, bias: float = 0.0) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        with torch.no_grad():
            self.linear.weight.fill_(weight)
            self.linear.bias.fill_(bias)

    def forward(self, total_anoms: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(total_anoms))

    @property
    def weight(self) -> float:
        return float(self.linear.weight.item())

    @property
    def bias(self) -> float:
        return float(self.linear.bias.item())


@dataclass(frozen=True)
class ModelParams:
    """A versioned set of weights (what is saved and loaded)."""

    version: str
    weight: float
    bias: float
    auc: float | None = None
    trained_on: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and math.isfinite(self.bias)):
            raise ValueError(f"model {self.version}: weight and bias must be finite")


class ThreatScorer:
    """Serves one model version. The seed version follows the genome's ml_weight.

    Scores are memoised by (model version, total anoms, weight in use): the model's output for a
    given version and input never changes, and a beat's inputs repeat (anoms are counts, the level
    is the detector's). The torch forward pass runs on a miss; ``forward_calls`` counts them. The
    memo is bounded (cleared when full) and belongs to this scorer, so a hot-reloaded version
    starts with an empty one.
    """

    MEMO_LIMIT = 4096

    def __init__(self, params: ModelParams | None = None) -> None:
        # A 1×1 linear layer gains nothing from intra-op threads, and idle OpenMP threads spin on
        # the CPU after every call: one thread serves it.
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        self.params = params or ModelParams(SEED_VERSION, 0.12, 0.0)
        self.model = EntropyModel(self.params.weight, self.params.bias).eval()
        self._input = torch.zeros(1, 1)
        self._follows_genome = self.params.version == SEED_VERSION
        self._weight_in_use = self.model.weight  # the layer's weight, kept here so a score reads no tensor
        self._memo: dict[tuple[str, float, float | None], float] = {}
        self.forward_calls = 0

    @property
    def version(self) -> str:
        return self.params.version

    def score(self, total_anoms: float, ml_weight: float) -> float:
        if not math.isfinite(total_anoms) or total_anoms < 0:
            raise ValueError(f"total anoms must be a finite count ≥ 0, got {total_anoms!r}")
        key = (self.params.version, float(total_anoms), ml_weight if self._follows_genome else None)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        with torch.no_grad():
            if self._follows_genome and self._weight_in_use != ml_weight:
                self.model.linear.weight.fill_(ml_weight)
                self._weight_in_use = self.model.weight
            self._input[0, 0] = float(total_anoms)
            value = float(self.model(self._input).item())
        self.forward_calls += 1
        if len(self._memo) >= self.MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = value
        return value


def train(
    anoms: list[float] | torch.Tensor,
    labels: list[float] | torch.Tensor,
    *,
    epochs: int = 300,
    lr: float = 0.05,
    init: ModelParams | None = None,
    progress: object | None = None,
) -> tuple[EntropyModel, list[float]]:
    """F-ML-2: fit w, b with MSE loss and Adam on (total anoms, label ∈ {0, 1}).

    Inputs are standardised internally for a well-conditioned fit and the
    result is mapped back to raw anoms. ``progress`` may be a callable taking
    the epoch number (a Rich progress bar's advance). Returns the model and the
    loss per epoch.
    """
    x = torch.as_tensor(anoms, dtype=torch.float32).reshape(-1, 1)
    y = torch.as_tensor(labels, dtype=torch.float32).reshape(-1, 1)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("anoms and labels must be non-empty and of equal length")
    if not torch.isfinite(x).all() or not torch.isfinite(y).all():
        raise ValueError("training data holds NaN or infinite values")
    if ((y != 0) & (y != 1)).any():
        raise ValueError("labels must be 0 or 1")
    mean = float(x.mean())
    std = float(x.std()) if x.shape[0] > 1 and float(x.std()) > 0 else 1.0
    xs = (x - mean) / std
    start = init or ModelParams(SEED_VERSION, 0.12, 0.0)
    model = EntropyModel(start.weight * std, start.bias + start.weight * mean)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    losses = []
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(xs), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
        if callable(progress):
            progress(epoch)
    w_std, b_std = model.weight, model.bias
    return EntropyModel(w_std / std, b_std - w_std * mean / std), losses


def evaluate_auc(params: ModelParams, total_anoms: list[float], labels: list[int], ml_weight: float = 0.12) -> float:
    """F-ML-2: ROC AUC of the threat score of ``params`` against the labels (1 = anomalous).

    Raises ``venom_common.evaluation.AucUndefined`` when the labels hold one class only.
    """
    from venom_common.evaluation import roc_auc

    scorer = ThreatScorer(params)
    scores = [scorer.score(x, ml_weight) for x in total_anoms]
    return roc_auc(scores, [bool(y) for y in labels])
