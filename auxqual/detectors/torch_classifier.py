"""A small MLP binary classifier (normal vs anomaly) behind the PyOD interface.

The "train" stage fits a detector hundreds of times (dataset × generator × score ×
q × seed), so this model is deliberately small and quick: inputs standardised with
the training mean and standard deviation, a ReLU MLP, Adam on a class-weighted
binary cross-entropy, a few dozen mini-batch epochs. A fit on 1,200 × 64 takes
about 0.1-0.2 s on one CPU core (see ``num_threads``).

Determinism: weights are initialised under ``torch.manual_seed(random_state)``
inside ``torch.random.fork_rng`` (the caller's global RNG state is left as it
was) and mini-batches are shuffled with a private ``torch.Generator``, so on
CPU the same data and seed give identical scores. On CUDA results agree up to
float tolerance.

No anomalies in ``y``: a classifier cannot learn a class it never sees. Rather
than fail a whole fan-out cell (a q that selects zero auxiliary anomalies is a
legitimate cell), the detector then falls back to a one-class score, the
Euclidean distance from the mean of the (standardised) normals, and sets
``one_class_ = True`` so that callers can see it happened. No normals at all is
an error (``ValueError``): there is nothing to contrast the anomalies with.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from auxqual.detectors._validation import CheckedInputMixin, binary_target_tags, check_min_samples
from auxqual.device import pick_device
from auxqual.io import atomic_path, check_labels

FORMAT = "auxqual.TorchClassifier/1"


@contextlib.contextmanager
def _torch_threads(num_threads: int | None, device: torch.device) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)`` on CPU, then restore."""
    previous = torch.get_num_threads()
    wanted = previous if num_threads is None or device.type != "cpu" else int(num_threads)
    change = wanted != previous
    if change:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(previous)


class TorchClassifier(CheckedInputMixin, BaseEstimator):
    """MLP classifier of normal (0) vs anomaly (1) with PyOD's detector interface.

    Parameters
    ----------
    hidden : sizes of the hidden ReLU layers.
    epochs : passes over the training data.
    lr, weight_decay : Adam's learning rate and L2 penalty.
    batch_size : rows per mini-batch; ``None`` trains full-batch.
    class_weight : ``'balanced'`` weighs each class by ``n / (2 n_c)`` so the few
        anomalies count as much as the many normals; ``None`` weighs rows equally;
        a dict ``{0: w0, 1: w1}`` gives the weights.
    random_state : seed for the weight initialisation and the shuffling.
    device : torch device (``None`` = ``cuda`` when present, else ``cpu``).
    num_threads : CPU threads torch may use while this detector fits or scores
        (restored afterwards); ``None`` leaves torch's setting alone. The default 1
        is measured: matrices this small gain nothing from intra-op threads, and on
        a loaded machine (other fits, other jobs) two spinning OpenMP threads made a
        fit 5-10x slower (1.0-4.3 s instead of 0.2 s on 1,200 x 64). Parallelism
        belongs one level up, across fan-out cells. The setting is process-wide
        while it lasts, so do not share one process's torch across threads.

    Notes
    -----
    Fitted attributes: ``model_`` (the torch module), ``mean_``, ``scale_``
    (standardisation), ``n_features_in_``, ``one_class_``, ``device_``,
    ``train_score_range_`` (min and max training score, for ``predict_proba`` in
    one-class mode; ``None`` otherwise), ``loss_curve_`` (mean loss per epoch).
    """

    def __init__(self, hidden: Sequence[int] = (64, 32), epochs: int = 40, lr: float = 5e-3,
                 weight_decay: float = 1e-4, batch_size: int | None = 256,
                 class_weight: str | dict[int, float] | None = "balanced",
                 random_state: int = 0, device: str | None = None, num_threads: int | None = 1) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.random_state = random_state
        self.device = device
        self.num_threads = num_threads

    def __sklearn_tags__(self):
        """scikit-learn's tags: a binary 0/1 target (1 = anomaly), required."""
        return binary_target_tags(super().__sklearn_tags__(), required=True)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any) -> TorchClassifier:
        """Fit on features ``X`` and labels ``y`` (1 = anomaly, 0 = normal)."""
        X_input, X = X, self._start_fit(X, name="TorchClassifier.fit X")
        check_min_samples(X, 2, "TorchClassifier.fit X", "TorchClassifier")
        if y is None:
            raise ValueError("TorchClassifier requires y to be passed, but the target y is None "
                             "(1 = anomaly, 0 = normal)")
        y = check_labels(y, name="TorchClassifier.fit y", n_rows=X.shape[0])
        self._check_params()
        n_anomalies = int(y.sum())
        if n_anomalies == y.shape[0]:
            raise ValueError(f"TorchClassifier.fit y: all {n_anomalies} rows are anomalies; "
                             "need at least one normal row (label 0)")
        self.device_ = pick_device(self.device)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        self.one_class_ = n_anomalies == 0
        self.model_ = self._build_model(X.shape[1])
        self.train_score_range_: tuple[float, float] | None = None
        if self.one_class_:
            self.center_ = self._standardise(X[y == 0]).mean(axis=0)
            self.loss_curve_ = []
            train_scores = self._decision(X)
            self.train_score_range_ = (float(train_scores.min()), float(train_scores.max()))
        else:
            with _torch_threads(self.num_threads, self.device_):
                self.loss_curve_ = self._train(self._standardise(X), y)
        self._end_fit(X_input, X)
        return self

    def _check_params(self) -> None:
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"TorchClassifier: hidden={self.hidden!r} must be a non-empty list of positive sizes")
        if int(self.epochs) < 1:
            raise ValueError(f"TorchClassifier: epochs={self.epochs!r} must be >= 1")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"TorchClassifier: batch_size={self.batch_size!r} must be >= 1 or None")
        if self.num_threads is not None and int(self.num_threads) < 1:
            raise ValueError(f"TorchClassifier: num_threads={self.num_threads!r} must be >= 1 or None")
        if not (isinstance(self.class_weight, dict) or self.class_weight in ("balanced", None)):
            raise ValueError(f"TorchClassifier: class_weight={self.class_weight!r}; "
                             "expected 'balanced', None or a dict {0: w0, 1: w1}")

    def _build_model(self, n_features: int) -> nn.Module:
        """The MLP, initialised under ``random_state`` without touching the global RNG."""
        sizes = [n_features, *(int(h) for h in self.hidden)]
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            for d_in, d_out in itertools.pairwise(sizes):
                layers += [nn.Linear(d_in, d_out), nn.ReLU()]
            layers.append(nn.Linear(sizes[-1], 1))
            model = nn.Sequential(*layers)
        return model.to(self.device_)

    def _row_weights(self, y: np.ndarray) -> np.ndarray:
        """Per-row loss weights from ``class_weight``."""
        if self.class_weight is None:
            return np.ones(y.shape[0])
        if isinstance(self.class_weight, str):  # "balanced", the one name fit accepts
            counts = np.bincount(y, minlength=2)
            per_class = y.shape[0] / (2.0 * counts)
        else:
            per_class = np.array([float(self.class_weight.get(0, 1.0)), float(self.class_weight.get(1, 1.0))])
        return per_class[y]

    def _train(self, Z: np.ndarray, y: np.ndarray) -> list[float]:
        """Adam on the weighted BCE; returns the mean loss of each epoch."""
        device = self.device_
        features = torch.as_tensor(Z, dtype=torch.float32, device=device)
        targets = torch.as_tensor(y, dtype=torch.float32, device=device)
        weights = torch.as_tensor(self._row_weights(y), dtype=torch.float32, device=device)
        optimiser = torch.optim.Adam(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        generator = torch.Generator().manual_seed(int(self.random_state))
        n = features.shape[0]
        batch = n if self.batch_size is None else min(int(self.batch_size), n)
        curve: list[float] = []
        self.model_.train()
        for _ in range(int(self.epochs)):
            order = torch.randperm(n, generator=generator).to(device)
            total = torch.zeros((), device=device)
            for start in range(0, n, batch):
                rows = order[start:start + batch]
                optimiser.zero_grad(set_to_none=True)
                logits = self.model_(features[rows]).squeeze(1)
                losses = nn.functional.binary_cross_entropy_with_logits(logits, targets[rows], reduction="none")
                loss = (losses * weights[rows]).mean()
                loss.backward()
                optimiser.step()
                total += loss.detach() * rows.shape[0]
            curve.append(float(total) / n)
        self.model_.eval()
        return curve

    # ------------------------------------------------------------------ scoring
    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_

    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly scores, higher = more anomalous: the logit of P(anomaly), or in
        one-class mode the standardised distance from the normals' mean."""
        return self._decision(self._checked_input(X, name="TorchClassifier.decision_function X"))

    def _decision(self, X: np.ndarray) -> np.ndarray:
        Z = self._standardise(X)
        if self.one_class_:
            return np.linalg.norm(Z - self.center_, axis=1)
        with torch.no_grad(), _torch_threads(self.num_threads, self.device_):
            logits = self.model_(torch.as_tensor(Z, dtype=torch.float32, device=self.device_)).squeeze(1)
        return logits.cpu().numpy().astype(np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``n × 2`` probabilities (columns normal, anomaly): the sigmoid of the logit,
        or in one-class mode the training-range min-max scaling PyOD calls 'linear'."""
        scores = self.decision_function(X)
        if self.one_class_:
            if self.train_score_range_ is None:  # fit and load set it in one-class mode
                raise RuntimeError("TorchClassifier: a one-class model without its training score range")
            low, high = self.train_score_range_
            p_anomaly = np.clip((scores - low) / (high - low if high > low else 1.0), 0.0, 1.0)
        else:
            p_anomaly = expit(scores)
        return np.column_stack([1.0 - p_anomaly, p_anomaly])

    def predict(self, X: Any) -> np.ndarray:
        """Labels (1 = anomaly) where P(anomaly) >= 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int8)

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Write config, standardisation and ``state_dict`` (all on CPU) to ``path``
        atomically with ``torch.save``; returns ``path``."""
        check_is_fitted(self, "model_")
        payload: dict[str, Any] = {
            "format": FORMAT,
            "config": {**self.get_params(), "hidden": tuple(int(h) for h in self.hidden)},
            "state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()},
            "fitted": {
                "mean": torch.as_tensor(self.mean_), "scale": torch.as_tensor(self.scale_),
                "center": torch.as_tensor(self.center_) if self.one_class_ else None,
                "n_features_in": int(self.n_features_in_), "one_class": bool(self.one_class_),
                "train_score_range": self.train_score_range_, "loss_curve": list(self.loss_curve_),
                "trained_on": self.device_.type,
            },
        }
        if hasattr(self, "feature_names_in_"):  # only then: files of array fits stay as they were
            payload["fitted"]["feature_names_in"] = [str(c) for c in self.feature_names_in_]
        path = Path(path)
        # a file handle, not the path: torch names the archive's records after a path
        # (here a random temporary name), which would make the bytes differ run to run
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            torch.save(payload, handle)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> TorchClassifier:
        """Load a model written by ``save`` onto ``device``.

        By default onto the kind of device it was trained on when this machine has
        one (then its scores are the saved model's, bit for bit), else the CPU (equal
        up to float32 tolerance, about 1e-6). Uses ``weights_only=True``: no code is
        unpickled.
        """
        path = Path(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for a bad file
            raise ValueError(f"{path}: cannot read as a TorchClassifier .pt file ({error})") from error
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path}: not a TorchClassifier file (format {FORMAT!r} expected)")
        if device is None:
            trained_on = payload["fitted"].get("trained_on", "cpu")
            device = "cuda" if trained_on == "cuda" and torch.cuda.is_available() else "cpu"
        model = cls(**{**payload["config"], "device": device})
        model._restore(payload)
        return model

    def _restore(self, payload: dict[str, Any]) -> None:
        fitted = payload["fitted"]
        self.device_ = pick_device(self.device)
        self.n_features_in_ = fitted["n_features_in"]
        if fitted.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(fitted["feature_names_in"], dtype=object)
        self.mean_ = fitted["mean"].numpy()
        self.scale_ = fitted["scale"].numpy()
        self.one_class_ = fitted["one_class"]
        if self.one_class_:
            self.center_ = fitted["center"].numpy()
        score_range = fitted["train_score_range"]
        self.train_score_range_ = None if score_range is None else tuple(score_range)
        self.loss_curve_ = list(fitted["loss_curve"])
        self.model_ = self._build_model(self.n_features_in_)
        self.model_.load_state_dict(payload["state_dict"])
        self.model_.eval()
