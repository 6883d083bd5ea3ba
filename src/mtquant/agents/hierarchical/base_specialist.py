"""Level 2 of the hierarchy: the abstract specialist (domain expert over a group of instruments).

A specialist encodes its domain's market state ``[B, D]`` (forex 8, commodities 6, equity 7)
with ``Linear(D, 256) + ReLU -> Linear(256, 128)``; one head per instrument
(``nn.ModuleDict``) maps ``concat(encoding 128, the instrument's observation 50, the
meta-controller's allocation 1)`` through ``Linear(179, 64) + ReLU -> Linear(64, 3)`` to logits of
(buy, hold, sell), read as target (long, flat, short); the value head maps
``concat(encoding, allocation)`` to ``[B, 1]``.

Weight sharing (``shared_trunk=True``, the default): the heads' first layer ``Linear(179, 64)`` is
one module shared by every head of the specialist, and each instrument keeps its own output layer
``Linear(64, 3)``. The observation is scale-free (z-scored returns, distances, oscillators), so
one trunk reads "this instrument's state" the same way for every instrument and learns from all of
them at once; the per-instrument output layer keeps what is instrument-specific. With separate
trunks each head sees a third of the data and, on a few thousand training days, fits the
particular noise of its own path (measured by :mod:`mtquant.studies.learning_check`).
``instrument_heads[symbol]`` is still a complete ``nn.Sequential`` for that instrument. :meth:`logits` evaluates every head at once
(weights stacked, one ``einsum``) and is what training uses; :meth:`forward` keeps the plan's
dictionary interface on top of it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
from torch import nn

from mtquant.errors import ConfigError, DataError
from mtquant.features.layout import OBSERVATION_DIM
from mtquant.features.normalise import apply_zscore, fit_zscore

if TYPE_CHECKING:
    from mtquant.data.market_data import MarketData

N_ACTIONS = 3  # 0 buy / long, 1 hold / flat, 2 sell / short
ANOMALY_Z = 4.0
ANOMALY_WINDOW = 60  # days behind the z-score of a day's domain features


class BaseSpecialist(nn.Module, ABC):
    """Shared encoder, per-instrument heads and value head; subclasses add domain methods.

    Example:
        >>> from mtquant.agents.hierarchical.forex_specialist import ForexSpecialist
        >>> fx = ForexSpecialist()
        >>> obs = {s: torch.zeros(2, 50) for s in fx.get_instruments()}
        >>> probs, value = fx(torch.zeros(2, 8), obs, allocation=0.33)
        >>> probs["EURUSD"].shape, value.shape
        (torch.Size([2, 3]), torch.Size([2, 1]))
    """

    SPECIALIST_TYPE: ClassVar[str] = ""
    DEFAULT_INSTRUMENTS: ClassVar[tuple[str, ...]] = ()
    MARKET_FEATURES_DIM: ClassVar[int] = 0

    def __init__(
        self,
        instruments: list[str] | None = None,
        market_features_dim: int | None = None,
        observation_dim: int = OBSERVATION_DIM,
        encoder_dim: int = 256,
        encoder_out_dim: int = 128,
        hidden_dim: int = 64,
        dropout: float = 0.0,
        shared_trunk: bool = True,
    ) -> None:
        super().__init__()
        instruments = list(self.DEFAULT_INSTRUMENTS if instruments is None else instruments)
        if not instruments:
            raise ConfigError(f"specialist {self.SPECIALIST_TYPE!r}: needs at least one instrument")
        if len(set(instruments)) != len(instruments):
            raise ConfigError(
                f"specialist {self.SPECIALIST_TYPE!r}: duplicate instruments {instruments}"
            )
        self.instruments = instruments
        self.market_features_dim = market_features_dim or self.MARKET_FEATURES_DIM
        self.observation_dim = observation_dim
        self.hidden_dim = hidden_dim  # width of the instrument heads (export metadata)
        self.encoder = nn.Sequential(
            nn.Linear(self.market_features_dim, encoder_dim),
            nn.ReLU(),
            nn.Linear(encoder_dim, encoder_out_dim),
        )
        head_in = encoder_out_dim + observation_dim + 1
        self.shared_trunk = shared_trunk
        trunk = nn.Linear(head_in, hidden_dim) if shared_trunk else None
        self.instrument_heads = nn.ModuleDict(
            {
                s: nn.Sequential(
                    trunk if trunk is not None else nn.Linear(head_in, hidden_dim),
                    nn.ReLU(),
                    nn.Dropout(dropout),
                    nn.Linear(hidden_dim, N_ACTIONS),
                )
                for s in instruments
            }
        )
        self.value_head = nn.Linear(encoder_out_dim + 1, 1)

    # ------------------------------------------------------------------ networks
    def logits(
        self, market_state: torch.Tensor, obs: torch.Tensor, allocation: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched heads: market ``[B, D]``, obs ``[B, n, 50]``, allocation ``[B, 1]`` ->
        (logits ``[B, n, 3]``, value ``[B, 1]``)."""
        enc = self.encoder(market_state)  # [B, 128]
        b, n = obs.shape[0], obs.shape[1]
        alloc = allocation.reshape(b, 1).to(enc.dtype)
        x = torch.cat(
            [enc.unsqueeze(1).expand(b, n, -1), obs, alloc.unsqueeze(1).expand(b, n, 1)], -1
        )
        heads = [cast(nn.Sequential, self.instrument_heads[s]) for s in self.instruments]
        first = [cast(nn.Linear, h[0]) for h in heads]
        last = [cast(nn.Linear, h[3]) for h in heads]
        w1 = torch.stack([lin.weight for lin in first])  # [n, H, in]
        b1 = torch.stack([lin.bias for lin in first])  # [n, H]
        w2 = torch.stack([lin.weight for lin in last])  # [n, 3, H]
        b2 = torch.stack([lin.bias for lin in last])  # [n, 3]
        hidden = heads[0][2](torch.relu(torch.einsum("bni,nhi->bnh", x, w1) + b1))  # dropout
        out = torch.einsum("bnh,nkh->bnk", hidden, w2) + b2
        return out, self.value_head(torch.cat([enc, alloc], -1))

    def forward(
        self,
        market_state: torch.Tensor,
        instrument_states: dict[str, torch.Tensor],
        allocation: torch.Tensor | float,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The plan's interface: per-instrument action probabilities ``[B, 3]`` and value ``[B, 1]``.

        ``allocation`` is this specialist's share from the meta-controller, a float or ``[B, 1]``.
        """
        missing = [s for s in self.instruments if s not in instrument_states]
        if missing:
            raise DataError(f"{type(self).__name__}.forward: no observation for {missing}")
        obs = torch.stack([instrument_states[s] for s in self.instruments], dim=1)
        alloc = torch.as_tensor(allocation, dtype=obs.dtype, device=obs.device)
        alloc = alloc.reshape(-1, 1).expand(obs.shape[0], 1)
        logits, value = self.logits(market_state, obs, alloc)
        probs = torch.softmax(logits, -1)
        return {s: probs[:, k] for k, s in enumerate(self.instruments)}, value

    # ------------------------------------------------------------------ plan interface
    def get_instruments(self) -> list[str]:
        """Symbols this specialist trades, in head order."""
        return list(self.instruments)

    @property
    def specialist_type(self) -> str:
        return self.SPECIALIST_TYPE

    @property
    def instrument_count(self) -> int:
        return len(self.instruments)

    @abstractmethod
    def get_domain_features(self, market_data: MarketData) -> torch.Tensor:
        """Domain market state ``[T, D]`` (raw, causal) from ``market_data``."""

    @abstractmethod
    def feature_names(self) -> list[str]:
        """Names of the ``D`` columns of :meth:`get_domain_features`."""

    def calculate_confidence(self, actions: dict[str, torch.Tensor] | torch.Tensor) -> float:
        """1 - normalised entropy of the action distribution, averaged over instruments and batch.

        ``actions``: probabilities ``{symbol: [B, 3]}`` (as :meth:`forward` returns) or a tensor
        ``[..., 3]``. 1 = every head certain, 0 = every head uniform.
        """
        probs = torch.stack(list(actions.values()), -2) if isinstance(actions, dict) else actions
        p = probs.clamp_min(1e-12)
        entropy = -(p * p.log()).sum(-1) / math.log(probs.shape[-1])
        return float(1.0 - entropy.mean())

    def daily_view(
        self, raw: torch.Tensor, data: MarketData, date: Any
    ) -> dict[str, str | float | bool]:
        """This specialist's domain view of one day: its regime and calendar methods on the raw
        domain features ``raw [t + 1, D]`` (the last row is the day), the market data up to the
        day and its date. Reported by evaluations; a specialist without domain methods has none."""
        return {}

    @staticmethod
    def normalize_features(
        features: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Z-score ``[T, D]`` features per column, clipped to +-5, as the feature pipeline
        normalises every observation (:mod:`mtquant.features.normalise`; float64).

        Pass ``mean``/``std`` fitted on the training rows to keep evaluation causal (else the
        tensor's own, ddof=0); a column with zero spread becomes 0.
        """
        if mean is None or std is None:
            own_mean, own_std = fit_zscore(features, 0, features.shape[0])
            mean = own_mean if mean is None else mean
            std = own_std if std is None else std
        return apply_zscore(features, mean.double(), std.double())

    @classmethod
    def detect_anomalies(cls, features: torch.Tensor, threshold: float = ANOMALY_Z) -> torch.Tensor:
        """Bool mask ``[..., T, D]``: ``|z| > threshold`` (4) per column over the ``T`` rows, or a
        non-finite value (leading dimensions are independent windows)."""
        finite = torch.isfinite(features)
        clean = torch.where(finite, features, torch.zeros_like(features))
        n = finite.sum(-2, keepdim=True).clamp_min(1)
        mu = clean.sum(-2, keepdim=True) / n
        var = (torch.where(finite, clean - mu, torch.zeros_like(clean)) ** 2).sum(
            -2, keepdim=True
        ) / (n - 1).clamp_min(1)
        sd = var.sqrt()
        z = (clean - mu) / torch.where(sd > 0, sd, torch.ones_like(sd))
        return (z.abs() > threshold) | ~finite

    @classmethod
    def anomalous_days(
        cls, features: torch.Tensor, window: int = ANOMALY_WINDOW, threshold: float = ANOMALY_Z
    ) -> torch.Tensor:
        """``[T]`` bool: day ``t``'s row of ``features [T, D]`` is an anomaly
        (:meth:`detect_anomalies`) within the ``window`` days ending at ``t`` (causal; False
        before a full window). The live decision cycle reports these days."""
        out = torch.zeros(features.shape[0], dtype=torch.bool)
        if features.shape[0] < window:
            return out
        windows = features.double().unfold(0, window, 1).transpose(-1, -2)  # [T-w+1, w, D]
        out[window - 1 :] = cls.detect_anomalies(windows, threshold)[:, -1, :].any(-1)
        return out

    # ------------------------------------------------------------------ helpers for subclasses
    def _closes(self, data: MarketData, symbols: list[str] | None = None) -> torch.Tensor:
        """``[T, k]`` float64 closes of ``symbols`` (default: this specialist's instruments)."""
        wanted = self.instruments if symbols is None else symbols
        missing = [s for s in wanted if s not in data.symbols]
        if missing:
            raise DataError(
                f"{type(self).__name__}: market data has no {missing}; it has {data.symbols}"
            )
        return data.select(wanted).close.to(torch.float64)

    def _feature_row(
        self, features: torch.Tensor | MarketData, method: str, needed: list[str]
    ) -> dict[str, float]:
        """``needed`` values of the last row of the raw domain features ``[T, D]`` (given, or
        computed from ``MarketData``)."""
        f = features if isinstance(features, torch.Tensor) else self.get_domain_features(features)
        names = self.feature_names()
        row = f.reshape(-1, f.shape[-1])[-1].double()
        if row.shape[0] != len(names):
            raise DataError(
                f"{type(self).__name__}.{method}: expected {len(names)} domain features {names}, "
                f"got {row.shape[0]}"
            )
        values = {k: v for k, v in zip(names, row.tolist(), strict=True) if k in needed}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            raise DataError(
                f"{type(self).__name__}.{method}: domain features not defined yet (warm-up) "
                f"in the last row: {bad}"
            )
        return values

    def _require(self, symbol: str, method: str) -> None:
        if symbol not in self.instruments:
            raise ConfigError(
                f"{type(self).__name__}.{method}: needs {symbol!r} among the instruments "
                f"{self.instruments}"
            )


def window_log_returns(closes: torch.Tensor, window: int, method: str) -> torch.Tensor:
    """Daily log returns ``[window, k]`` of the last ``window`` days of ``closes [T, k]``."""
    if closes.shape[0] < window + 1:
        raise DataError(f"{method}: needs {window + 1} days of closes, got {closes.shape[0]}")
    return torch.diff(closes[-(window + 1) :].log(), dim=0)
