"""Baselines that trade through the same environment, costs and risk transform as the agents.

Each is a tensordict callable ``td -> td`` writing ``"target_weights" [B, N]`` (notional /
equity) from the observations the env publishes, so ``make_env(...).rollout(T, baseline)`` and
``HierarchicalTradingSystem(..., policy=baseline)`` score them on the same data and frictions.

* :class:`EqualWeight`: long every instrument with equal notional, ``gross / N`` each
  (gross leverage 1 by default), rebalanced daily to those weights.
* :class:`InverseVolatility`: long every instrument with weight proportional to ``1 / vol_i``,
  normalised to the same gross leverage (naive risk parity: equal volatility contributions when
  correlations are ignored).
* :class:`TimeSeriesMomentum`: the sign of each instrument's return from ``t - 252`` to
  ``t - 21`` (12 months, skipping the last month; Moskowitz, Ooi & Pedersen 2012), sized so that
  each leg runs ``target_vol / N`` of daily volatility: ``w_i = sign_i * target_vol / (N vol_i)``.
  It reads the row from ``("info", "date_index")`` (written by the env) and needs the
  ``FeatureSet``'s ``returns``.
* :class:`MACDTrend`: the trend rule of Baz et al. (2015), as used by Zhang, Zohren & Roberts
  (2020): at three time scales ``(S, L) = (8, 24), (16, 48), (32, 96)`` the MACD of each
  instrument's return index (EWMAs with ``alpha = 1/S`` and ``1/L``) is divided by the index's
  63-day standard deviation, then by its own 252-day standard deviation, passed through the
  response ``phi(y) = y exp(-y^2 / 4) / 0.89`` and averaged over the scales; each leg runs
  ``|signal| * target_vol / N`` of daily volatility. Flat until every window is full.
* :class:`RiskParity`: long every instrument with inverse-volatility weights, the whole book
  scaled each day so that its ex-ante volatility under the EWMA covariance (``FeatureSet``'s
  ``ewma_cov``, known at the close of t) is ``annual_vol`` (10% a year by default), no leg
  beyond ``max_weight`` (:class:`~mtquant.agents.vol_target.VolatilityTarget` over legs
  ``1 / vol_i``).
* :class:`KellySpecialists`: long every instrument, capital across the specialists by capped
  Kelly weights of their trailing Sharpe ratios (the meta-controller's plan method
  ``calculate_kelly_allocation``), legs sized like the system at appetite 1.
* :class:`BuyAndHold`: equal notional ``gross / N`` bought when the account is flat (the first
  step of an episode), then never rebalanced: it re-sends the current weights, which the env
  treats as an unchanged target (no order), so units stay fixed.
* :class:`FlatPPOPolicy`: the plan's "Sprint 2 single agent": one MLP over all instruments'
  observations, the domain features and the meta state, with N categorical heads
  (long / flat / short) and one value; fixed equal allocation and appetite 1 so that the same
  :class:`~mtquant.agents.sizing.SizingModule` turns directions into weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase, TensorDictSequential
from tensordict.nn.probabilistic import InteractionType, interaction_type
from torch import nn
from torch.distributions import Categorical

from mtquant.agents.allocation import kelly_allocation
from mtquant.agents.sizing import POSITION_KEY, SizingModule, leg_position, target_weights
from mtquant.agents.vol_target import VolatilityTarget
from mtquant.config.agents import check_position_mode
from mtquant.config.store import RunConfig
from mtquant.errors import ConfigError, DataError
from mtquant.features.feature_set import FeatureSet
from mtquant.features.layout import OBSERVATION_DIM, PLAN_STATE_DIM
from mtquant.features.rolling import ema, rolling_std
from mtquant.instruments import InstrumentUniverse
from mtquant.registry import Registry

LOOKBACK, SKIP = 252, 21
TRADING_DAYS = 252
MACD_SCALES = ((8, 24), (16, 48), (32, 96))  # (short, long) EWMA time scales in days
MACD_PRICE_STD, MACD_SIGNAL_STD = 63, 252  # normalising windows of Baz et al. (2015)


class EqualWeight:
    """Long all N instruments at ``gross / N`` of equity each."""

    def __init__(self, gross: float = 1.0) -> None:
        self.gross = gross

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        vol = td.get("vol")
        td.set("target_weights", torch.full_like(vol, self.gross / vol.shape[-1]))
        return td


class InverseVolatility:
    """Long all instruments, ``w_i ∝ 1 / vol_i``, ``sum w_i = gross``."""

    def __init__(self, gross: float = 1.0) -> None:
        self.gross = gross

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        inv = 1.0 / td.get("vol").clamp_min(1e-8)
        td.set("target_weights", self.gross * inv / inv.sum(-1, keepdim=True))
        return td


class SignalLegs:
    """Legs ``w_i = s_i * target_vol / (N vol_i)`` from a causal signal ``s [T, N]`` in [-1, 1].

    Reads the decision row from ``("info", "date_index")`` (written by the env).
    """

    signal: torch.Tensor  # [T, N], row t known at the close of t
    target_vol: float

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        row = td.get(("info", "date_index"), None)
        if row is None:
            raise DataError(f"{type(self).__name__} needs ('info', 'date_index') in the tensordict")
        vol = td.get("vol")
        signal = self.signal.to(vol.device)[row]
        td.set("target_weights", signal * self.target_vol / (vol.shape[-1] * vol.clamp_min(1e-8)))
        return td


class TimeSeriesMomentum(SignalLegs):
    """Sign of the 12-1 month return, each leg at ``target_vol / N`` daily volatility."""

    def __init__(self, features: FeatureSet, target_vol: float = 0.01) -> None:
        log_growth = torch.log1p(features.returns.double()).cumsum(0)  # [T, N], row t: 0..t
        padded = torch.cat([torch.zeros_like(log_growth[:1]), log_growth])  # row t+1: 0..t
        t = torch.arange(features.n_days)
        end = (t - SKIP + 1).clamp_min(0)  # growth over rows (t-252, t-21]
        start = (t - LOOKBACK + 1).clamp_min(0)
        self.signal = torch.sign(padded[end] - padded[start]).float()  # [T, N]
        self.signal[t < LOOKBACK] = 0.0  # not enough history: stay flat
        self.target_vol = target_vol


def _macd_response(returns: torch.Tensor) -> torch.Tensor:
    """``[T, N]`` Baz et al. (2015) trend signal of the return index, in about ``[-0.96, 0.96]``.

    Row ``t`` uses returns up to row ``t`` only (EWMAs and trailing windows); 0 while a window
    is not yet full.
    """
    index = torch.exp(torch.log1p(returns.double()).cumsum(0))  # [T, N] growth of 1 unit
    price_sd = rolling_std(index, MACD_PRICE_STD)
    signal = torch.zeros_like(index)
    for short, long in MACD_SCALES:  # alpha = 1 / S is ema's span 2 S - 1
        macd = ema(index, 2 * short - 1) - ema(index, 2 * long - 1)
        q = macd / price_sd.clamp_min(1e-12)
        y = q / rolling_std(q, MACD_SIGNAL_STD).clamp_min(1e-12)
        signal += torch.nan_to_num(y * torch.exp(-y.square() / 4.0) / 0.89, nan=0.0)
    return (signal / len(MACD_SCALES)).float()


class MACDTrend(SignalLegs):
    """Multi-scale MACD trend following (Baz et al. 2015), legs at ``|s| target_vol / N``."""

    def __init__(self, features: FeatureSet, target_vol: float = 0.01) -> None:
        self.signal = _macd_response(features.returns)  # [T, N]
        self.target_vol = target_vol


class RiskParity(VolatilityTarget):
    """Inverse-volatility legs, the book scaled to ``annual_vol`` ex ante (EWMA covariance):
    the matched-volatility wrapper over legs ``1 / vol_i``."""

    def __init__(
        self, features: FeatureSet, annual_vol: float = 0.10, max_weight: float = float("inf")
    ) -> None:
        super().__init__(self._inverse_vol_legs, features.ewma_cov, annual_vol, max_weight)

    @staticmethod
    def _inverse_vol_legs(td: TensorDictBase) -> TensorDictBase:
        td.set("target_weights", 1.0 / td.get("vol").clamp_min(1e-8))  # the wrapper sizes them
        return td


class KellySpecialists:
    """Long every instrument; capital across the specialists by capped Kelly weights.

    Each day the meta-controller's plan method :meth:`MetaController.calculate_kelly_allocation`
    (:func:`~mtquant.agents.allocation.kelly_allocation`: ``max(Sharpe_s, 0) /
    vol_s`` normalised, each at most ``max_fraction``) splits the capital over the specialists
    from the annualised Sharpe ratio and volatility of each specialist's equal-weight long book
    over the last ``lookback`` days (rows ``t - lookback + 1 .. t``: causal); equal shares
    before a full window. Legs are then sized as the system sizes them at appetite 1
    (:func:`~mtquant.agents.sizing.target_weights`: inverse volatility within a specialist,
    ``target_vol`` a day per specialist at an equal share). Reads the row from
    ``("info", "date_index")``.
    """

    def __init__(
        self,
        features: FeatureSet,
        specialist_index: torch.Tensor,
        target_vol: float = 0.01,
        max_weight: float = float("inf"),
        lookback: int = LOOKBACK,
        max_fraction: float = 0.6,
    ) -> None:
        idx = specialist_index.long()
        n_spec = int(idx.max()) + 1
        onehot = torch.nn.functional.one_hot(idx, n_spec).double()  # [N, S]
        books = features.returns.double() @ (onehot / onehot.sum(0))  # [T, S] equal weight
        c1 = torch.cat([books.new_zeros(1, n_spec), books.cumsum(0)])
        c2 = torch.cat([books.new_zeros(1, n_spec), books.square().cumsum(0)])
        t = torch.arange(features.n_days)
        lo = (t - lookback + 1).clamp_min(0)
        n = (t + 1 - lo).double()[:, None]
        mean = (c1[t + 1] - c1[lo]) / n
        var = ((c2[t + 1] - c2[lo]) / n - mean.square()).clamp_min(0.0) * n / (n - 1).clamp_min(1)
        vol = var.sqrt() * TRADING_DAYS**0.5  # annualised
        sharpe = torch.where(vol > 0, mean * TRADING_DAYS / vol.clamp_min(1e-12), 0.0)
        allocation = torch.full((features.n_days, n_spec), 1.0 / n_spec, dtype=torch.float64)
        for row in range(lookback - 1, features.n_days):  # the plan method, once per day
            if bool((vol[row] > 0).all()):
                allocation[row] = torch.from_numpy(
                    kelly_allocation(sharpe[row].numpy(), vol[row].numpy(), max_fraction)
                )
        self.allocation = allocation.float()  # [T, S]
        self.specialist_index = idx
        self.target_vol, self.max_weight = target_vol, max_weight

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        row = td.get(("info", "date_index"), None)
        if row is None:
            raise DataError("KellySpecialists needs ('info', 'date_index') in the tensordict")
        vol = td.get("vol")
        allocation = self.allocation.to(vol.device)[row]  # [B, S]
        weights = target_weights(
            torch.ones_like(vol), allocation, torch.ones_like(allocation[:, :1]), vol,
            self.specialist_index, self.target_vol, self.max_weight,
        )  # fmt: skip
        td.set("target_weights", weights)
        return td


class BuyAndHold:
    """Equal notional bought when flat, then the units are held (no rebalancing)."""

    def __init__(self, gross: float = 1.0) -> None:
        self.gross = gross

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        current = td.get("weights")
        flat = (current == 0).all(-1, keepdim=True)
        entry = torch.full_like(current, self.gross / current.shape[-1])
        td.set("target_weights", torch.where(flat, entry, current))
        return td


class FlatPPOPolicy(TensorDictModuleBase):
    """One MLP over every instrument (the single-agent baseline) with the hierarchy's keys.

    Writes ``("action", "direction") [B, N]``, ``("action", "position") [B, N]`` (as the
    hierarchical policy: the expected position in a deterministic ``"mean"`` pass), the fixed ``("action", "allocation") = 1/S`` and
    ``("action", "appetite") = 1``, ``("log_prob", "specialists") [B, S]`` (sums of its
    instruments' log-probs, so the PPO core's per-specialist ratios work), ``("log_prob",
    "meta") = 0``, ``sample_log_prob [B]``, ``("entropy", ...)`` and ``value [B, 1]`` (one value:
    train it on the portfolio reward, index 0).
    """

    def __init__(
        self,
        symbols: Sequence[str],
        market_dims: dict[str, int],
        specialist_index: torch.Tensor,
        state_dim: int = PLAN_STATE_DIM,
        obs_dim: int = OBSERVATION_DIM,
        hidden_dim: int = 256,
        position_mode: str = "mean",
    ) -> None:
        super().__init__()
        self.position_mode = check_position_mode(position_mode, "FlatPPOPolicy")
        self.names = list(market_dims)
        self.symbols = list(symbols)  # the instrument axis N
        self.n = n_instruments = len(self.symbols)
        if specialist_index.numel() != n_instruments:
            raise ConfigError(
                f"FlatPPOPolicy: specialist_index has {specialist_index.numel()} entries for "
                f"{n_instruments} symbols {self.symbols}"
            )
        # the widths it was built with, in the form the export records (build_flat_policy reads it)
        self.dims: dict[str, int] = {
            "hidden_dim": hidden_dim,
            "state_dim": state_dim,
            "observation_dim": obs_dim,
            **{f"{n}.market_features_dim": int(d) for n, d in market_dims.items()},
        }
        in_dim = n_instruments * obs_dim + sum(market_dims.values()) + state_dim
        self.body = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, hidden_dim), nn.Tanh()
        )
        self.logits_head = nn.Linear(hidden_dim, n_instruments * 3)
        self.value_head = nn.Linear(hidden_dim, 1)
        self.register_buffer("specialist_index", specialist_index.clone().long())
        self.in_keys = ["meta_state", *[("market", n) for n in self.names], "instrument_obs"]
        self.out_keys = [
            ("action", "direction"), POSITION_KEY, ("action", "allocation"), ("action", "appetite"),
            ("log_prob", "meta"), ("log_prob", "specialists"), "sample_log_prob", "value",
            ("entropy", "meta"), ("entropy", "specialists"),
        ]  # fmt: skip

    def _dist(self, td: TensorDictBase) -> tuple[Categorical, torch.Tensor]:
        obs = td.get("instrument_obs")
        lead = obs.shape[:-2]
        parts = [obs.reshape(*lead, -1), td.get("meta_state")]
        parts += [td.get(("market", n)) for n in self.names]
        h = self.body(torch.cat(parts, -1))
        logits = self.logits_head(h).reshape(*lead, self.n, 3)
        return Categorical(logits=logits), self.value_head(h)

    def _write(
        self,
        td: TensorDictBase,
        dist: Categorical,
        value: torch.Tensor,
        direction: torch.Tensor,
        deterministic: bool = False,
    ) -> TensorDictBase:
        lead = direction.shape[:-1]
        s = len(self.names)
        logp = dist.log_prob(direction)  # [*, N]
        per_spec = torch.zeros(*lead, s, dtype=logp.dtype, device=logp.device)
        per_spec = per_spec.index_add(-1, self.specialist_index, logp)
        ent = torch.zeros_like(per_spec).index_add(-1, self.specialist_index, dist.entropy())
        zeros = torch.zeros(lead, dtype=logp.dtype, device=logp.device)
        out = {
            ("action", "direction"): direction.long(),
            POSITION_KEY: leg_position(dist.probs, direction, deterministic, self.position_mode),
            ("action", "allocation"): torch.full((*lead, s), 1.0 / s, device=logp.device),
            ("action", "appetite"): torch.ones(*lead, 1, device=logp.device),
            ("log_prob", "meta"): zeros,
            ("log_prob", "specialists"): per_spec,
            "sample_log_prob": per_spec.sum(-1),
            "value": value,
            ("entropy", "meta"): zeros,
            ("entropy", "specialists"): ent,
        }
        td.update(TensorDict(out, batch_size=lead))
        return td

    def forward(self, td: TensorDictBase, deterministic: bool | None = None) -> TensorDictBase:
        """Act: sample (or, deterministic, argmax) a direction per instrument."""
        if deterministic is None:
            mode = interaction_type()
            deterministic = mode is not None and mode != InteractionType.RANDOM
        dist, value = self._dist(td)
        direction = dist.logits.argmax(-1) if deterministic else dist.sample()
        return self._write(td, dist, value, direction, deterministic)

    def values(self, td: TensorDictBase) -> torch.Tensor:
        """State value ``[*, 1]`` without sampling (the GAE bootstrap of the portfolio reward)."""
        return self._dist(td)[1]

    def evaluate_actions(self, td: TensorDictBase) -> TensorDictBase:
        """Log-probs, entropies and value of the stored ``("action", "direction")`` (for PPO)."""
        dist, value = self._dist(td)
        out = self._write(
            td.select(*self.in_keys).clone(False), dist, value, td.get(("action", "direction"))
        )
        return out.exclude(
            ("action", "direction"), POSITION_KEY, ("action", "allocation"), ("action", "appetite")
        )

    def with_sizing(
        self, target_vol: float, max_weight: float = float("inf")
    ) -> TensorDictSequential:
        """``Seq(self, SizingModule)``: writes ``target_weights`` like the hierarchical policy."""
        return TensorDictSequential(
            self, SizingModule(self.specialist_index, target_vol, max_weight)
        )


def build_flat_policy(
    dims: Mapping[str, int],
    symbols: Sequence[str],
    specialist_index: torch.Tensor,
    position_mode: str = "mean",
) -> FlatPPOPolicy:
    """A :class:`FlatPPOPolicy` of the widths ``dims`` (``FlatPPOPolicy.dims``' form).

    Training builds the network with it, and evaluation rebuilds the exported network from the
    ``dims`` its metadata recorded, so both sides read the same keys.
    """
    market = {
        key.removesuffix(".market_features_dim"): int(value)
        for key, value in dims.items()
        if key.endswith(".market_features_dim")
    }
    try:
        return FlatPPOPolicy(
            symbols,
            market,
            specialist_index,
            state_dim=int(dims["state_dim"]),
            obs_dim=int(dims["observation_dim"]),
            hidden_dim=int(dims["hidden_dim"]),
            position_mode=position_mode,
        )
    except KeyError as exc:
        raise ConfigError(f"flat PPO dims {dict(dims)}: missing {exc}") from None


# ``(the run config, the features) -> a policy writing target_weights``, by report name
BaselineFactory = Callable[[RunConfig, FeatureSet], Callable[[TensorDictBase], TensorDictBase]]
BASELINES: Registry[BaselineFactory] = Registry(
    "baseline",
    {
        "equal_weight": lambda cfg, features: EqualWeight(),
        "inverse_vol": lambda cfg, features: InverseVolatility(),
        "ts_momentum": lambda cfg, f: TimeSeriesMomentum(f, cfg.env.sizing_target_vol),
        "macd_trend": lambda cfg, f: MACDTrend(f, cfg.env.sizing_target_vol),
        "risk_parity": lambda cfg, f: RiskParity(f, 0.10, cfg.env.max_gross_weight),
        "buy_and_hold": lambda cfg, features: BuyAndHold(),
        "kelly_specialists": lambda cfg, f: KellySpecialists(
            f,
            InstrumentUniverse.from_config(cfg.instruments).specialist_index(),
            cfg.env.sizing_target_vol,
            cfg.env.max_gross_weight,
        ),
    },
)


def rule_baselines(
    cfg: RunConfig, features: FeatureSet
) -> dict[str, Callable[[TensorDictBase], TensorDictBase]]:
    """Every registered rule-based baseline for the run, by report name (registry order)."""
    return {name: BASELINES.get(name)(cfg, features) for name in BASELINES}
