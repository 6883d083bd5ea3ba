"""Prove that it learns: train on synthetic data with and without a planted signal, score on val.

The experiment (issue 6; configs ``experiment=learn_signal`` and ``experiment=learn_nosignal``):

1. Train the hierarchical system (all three phases, ``training=learn``) on the training split of
   a synthetic market whose next-day returns carry a planted predictor of known strength
   (:mod:`mtquant.data.synthetic`), then on the same market with the predictor switched off.
2. Score on the **validation** split only (the test split is never read), every strategy through
   the same env, costs and risk transform (:func:`~mtquant.evaluation.backtest.run_strategy`,
   one account, deterministic actions):

   * ``system``: the trained policy's deterministic action (distribution means; each leg holds
     the expected position of its head, ``agents.position_mode``) + sizing; ``system_mode``
     is the same trained policy executing its most likely directions instead (all or nothing,
     ``position_mode=mode``), reported to show what the choice is worth;
   * ``oracle``: :class:`PlantedSignalOracle`, the system's own sizing rule with the direction
     replaced by the true planted signal (continuous, unit variance), so it pays the same costs,
     fills one day later like every strategy and passes the same risk transform; flat when the
     market has no signal (its true conditional mean is zero);
   * ``equal_weight``: :class:`~mtquant.agents.baselines.EqualWeight` (gross leverage 1).

   For reference, the direction oracle (:func:`direction_signal`: long / flat / short from the
   true signal, the system's own action space, sized and charged like the oracle) and the
   frictionless oracle of :func:`~mtquant.data.synthetic.oracle_sharpe`
   (weights ``a s / sigma`` from close ``t`` to ``t + 1``, no costs, no risk limits) are also
   reported over the same validation rows.
3. Checks: with the signal, ``Sharpe(system) >= min_oracle_ratio x Sharpe(oracle through the
   env)`` and ``Sharpe(system) > Sharpe(equal weight)``; without it (no leak), the system's daily
   excess return over equal weight is not significantly positive: its t statistic
   ``mean / sd * sqrt(n)`` stays below ``no_leak_z`` (one-sided). A look-ahead leak on
   unpredictable returns shows up as a large t; a trained system that learns to sit flat may
   still have a higher point Sharpe than a long-only book paying swaps, which is not a leak.

Sharpe ratios are annualised from daily simple returns of equity, net of every cost
(:func:`~mtquant.evaluation.metrics.sharpe_ratio`, 252 days, ddof=1).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensordict import TensorDictBase

from mtquant.agents.baselines import EqualWeight
from mtquant.config import RunConfig, compose_config, to_object
from mtquant.data import model_from_config
from mtquant.data.synthetic import SyntheticModel, oracle_positions, planted_signal
from mtquant.errors import ConfigError, DataError
from mtquant.evaluation.backtest import first_trading_row
from mtquant.evaluation.metrics import sharpe_ratio
from mtquant.experiment import Experiment
from mtquant.features.feature_set import FeatureSet

EXPERIMENTS = {"signal": "learn_signal", "nosignal": "learn_nosignal"}
DEFAULT_MIN_RATIO = 0.7
DEFAULT_NO_LEAK_Z = 1.645
DIRECTION_BAND = 0.5  # the direction oracle stays flat while |signal| < this (signal sd units)


class PlantedSignalOracle:
    """Target weights from the true planted signal, sized like the system at equal allocation.

    ``w_i = s_i[t] * target_vol / (n_s * vol_i)`` (``s`` unit variance, ``n_s`` the number of
    instruments of ``i``'s specialist, ``vol`` the env's EWMA volatility): the sizing rule of
    :func:`~mtquant.agents.sizing.target_weights` with ``sign(direction)`` replaced by ``s`` —
    the mean-variance direction ``E[r] / sigma^2 ∝ s / sigma`` scaled to the system's budget.
    Reads the decision row from ``("info", "date_index")``; ``|w| <= max_weight``.
    """

    def __init__(
        self,
        signal: torch.Tensor,  # [T, N] planted signal, 0 where the market has none
        specialist_index: torch.Tensor,  # [N]
        target_vol: float,
        max_weight: float,
    ) -> None:
        counts = torch.bincount(specialist_index.long())
        self.signal = signal.float()
        self.n_per = counts.index_select(0, specialist_index.long()).float()  # [N]
        self.target_vol = float(target_vol)
        self.max_weight = float(max_weight)

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        row = td.get(("info", "date_index"), None)
        if row is None:
            raise DataError("PlantedSignalOracle needs ('info', 'date_index') in the tensordict")
        vol = td.get("vol")
        s = self.signal.to(vol.device)[row]  # [B, N]
        w = s * self.target_vol / (self.n_per.to(vol.device) * vol.clamp_min(1e-8))
        td.set("target_weights", w.clamp(-self.max_weight, self.max_weight))
        return td


def oracle_signal(features: FeatureSet, model: SyntheticModel) -> torch.Tensor:
    """``[T, N]`` unit-variance planted signal from closes up to ``t``; zeros without a signal."""
    if model.signal_strength == 0.0:
        return torch.zeros(features.close.shape, dtype=torch.float32)
    return torch.from_numpy(planted_signal(features.close.numpy(), model)).float()


def direction_signal(signal: torch.Tensor, band: float = DIRECTION_BAND) -> torch.Tensor:
    """``sign(s)`` where ``|s| >= band``, else 0: what a long / flat / short policy (the system's
    action space) can do with the true signal. Through :class:`PlantedSignalOracle` it gives the
    direction oracle, the reference for how much of the continuous oracle a discrete policy can
    reach."""
    return torch.sign(signal) * (signal.abs() >= band).to(signal.dtype)


def frictionless_oracle_sharpe(
    features: FeatureSet, model: SyntheticModel, rows: tuple[int, int]
) -> float:
    """:func:`~mtquant.data.synthetic.oracle_sharpe` restricted to positions taken at rows
    ``[rows[0], rows[1] - 1)`` (the EMA warmed up on all earlier closes): no costs, no limits."""
    close = features.close.numpy()
    w = oracle_positions(close, model)[rows[0] : rows[1] - 1]
    pnl = (w * np.diff(np.log(close[rows[0] : rows[1]]), axis=0)).sum(axis=1)
    sd = float(pnl.std(ddof=1))
    return 0.0 if sd == 0.0 else float(np.sqrt(252.0) * pnl.mean() / sd)


def excess_t_stat(returns: np.ndarray, benchmark: np.ndarray) -> float:
    """t statistic of the mean daily excess return ``returns - benchmark`` (same days)."""
    d = np.asarray(returns, dtype=np.float64) - np.asarray(benchmark, dtype=np.float64)
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    return 0.0 if sd == 0.0 else float(d.mean() / sd * np.sqrt(d.size))


@dataclass(frozen=True)
class HalfResult:
    """Validation scores of one half of the experiment (annualised Sharpe ratios, net of costs)."""

    signal_strength: float
    system_sharpe: float
    oracle_sharpe: float  # through the env: same costs, fills and risk transform
    oracle_sharpe_frictionless: float  # reference: no costs, no risk limits
    direction_oracle_sharpe: (
        float  # reference: long / flat / short from the signal, sized as system
    )
    ratio: float | None  # system / oracle (None when the oracle's Sharpe is not positive)
    equal_weight_sharpe: float
    excess_t: float  # t statistic of the system's daily return minus equal weight's
    val_days: int
    val_range: str
    train_seconds: float
    system_mode_sharpe: float | None = None  # the same policy executing its argmax directions


def _sharpe(returns: np.ndarray) -> float:
    value = sharpe_ratio(returns)
    return 0.0 if value is None else float(value)


def train_and_score(cfg: RunConfig, run_dir: Path) -> HalfResult:
    """Train ``cfg``'s system from scratch in ``run_dir`` and score it on the validation split."""
    if cfg.data.source != "synthetic":
        raise ConfigError(
            f"config data.source={cfg.data.source}: the learning check needs data=synthetic*"
        )
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"learning check: run dir {run_dir} is not empty (train from scratch)")
    exp = Experiment.from_config(cfg)
    t0 = time.perf_counter()
    exp.fit(run_dir)
    train_seconds = time.perf_counter() - t0
    features, val, policy = exp.features, exp.splits.val, exp.policy
    actor = exp.system_actor()
    model = model_from_config(cfg, list(features.symbols))
    oracle = PlantedSignalOracle(
        oracle_signal(features, model),
        policy.specialist_index,
        cfg.env.sizing_target_vol,
        cfg.env.max_gross_weight,
    )
    system = exp.run(actor, "system", val, hierarchical=True)
    mode_returns = system.returns
    if policy.position_mode != "mode":  # the same policy, all-or-nothing directions
        chosen, policy.position_mode = policy.position_mode, "mode"
        mode_returns = exp.run(actor, "sys", val, hierarchical=True).returns
        policy.position_mode = chosen
    orc = exp.run(oracle, "oracle", val)
    direction = PlantedSignalOracle(
        direction_signal(oracle.signal),
        policy.specialist_index,
        cfg.env.sizing_target_vol,
        cfg.env.max_gross_weight,
    )
    drc = exp.run(direction, "direction_oracle", val)
    ew = exp.run(EqualWeight(), "equal_weight", val)
    sys_sr, orc_sr = _sharpe(system.returns), _sharpe(orc.returns)
    first = first_trading_row(features, val)
    return HalfResult(
        signal_strength=model.signal_strength,
        system_sharpe=sys_sr,
        oracle_sharpe=orc_sr,
        oracle_sharpe_frictionless=frictionless_oracle_sharpe(features, model, (first, val[1])),
        direction_oracle_sharpe=_sharpe(drc.returns),
        ratio=sys_sr / orc_sr if orc_sr > 0 else None,
        equal_weight_sharpe=_sharpe(ew.returns),
        excess_t=excess_t_stat(system.returns, ew.returns),
        val_days=len(system.returns),
        val_range=f"{features.dates[first].date()}..{features.dates[val[1] - 1].date()}",
        train_seconds=train_seconds,
        system_mode_sharpe=_sharpe(mode_returns),
    )


def checks(signal: HalfResult, nosignal: HalfResult, extras: dict[str, Any]) -> dict[str, bool]:
    """The three pass/fail criteria of the experiment (module doc)."""
    min_ratio = float(extras.get("min_oracle_ratio", DEFAULT_MIN_RATIO))
    z = float(extras.get("no_leak_z", DEFAULT_NO_LEAK_Z))
    return {
        "reaches_oracle_ratio": signal.system_sharpe >= min_ratio * signal.oracle_sharpe
        and signal.oracle_sharpe > 0,
        "beats_equal_weight": signal.system_sharpe > signal.equal_weight_sharpe,
        "no_leak": nosignal.excess_t < z,
    }


def run_half(
    name: str, out_dir: str, overrides: Sequence[str]
) -> tuple[HalfResult, dict[str, Any]]:
    """Compose ``experiment=<EXPERIMENTS[name]>`` + ``overrides``, train and score it.

    Returns the scores and the config's ``extras`` (a top-level function: a worker process runs it).
    """
    cfg = to_object(compose_config("train", [f"experiment={EXPERIMENTS[name]}", *overrides]))
    return train_and_score(cfg, Path(out_dir) / name), dict(cfg.extras)


def half_overrides(name: str, overrides: Sequence[str], signal_strength: float | None) -> list[str]:
    """The overrides of one half: ``overrides`` and, for the signal half only, the planted IC.

    The no-signal half must stay signal-free, so the planted strength is never given to it; an
    override that plants a signal in both halves is refused (it would void the no-leak check).
    """
    key = "data.synthetic.signal_strength"
    if any(o.lstrip("+~").split("=")[0] == key for o in overrides):
        raise ConfigError(
            f"learning check: override {key} would apply to both halves and plant a signal in "
            "the no-signal one; give the planted IC with --ic (signal half only)"
        )
    extra = [f"{key}={signal_strength}"] if name == "signal" and signal_strength is not None else []
    return [*overrides, *extra]


def learning_check(
    out_dir: str | Path,
    overrides: Sequence[str] = (),
    workers: int = 2,
    signal_strength: float | None = None,
) -> dict[str, Any]:
    """Run both halves (``overrides`` apply to both); ``{"signal", "nosignal", "checks", ...}``.

    ``signal_strength`` (the planted IC; None: the experiment's 0.10) applies to the signal half
    only. ``workers=2`` trains the halves in two spawned processes at once (each with
    ``hardware.torch_threads`` threads; 1 in the experiment configs), ``1`` one after the other.
    The halves share nothing, so the result does not depend on ``workers``.
    """
    names = list(EXPERIMENTS)
    per_half = {n: half_overrides(n, overrides, signal_strength) for n in names}
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(names)), mp_context=ctx) as pool:
            futures = [pool.submit(run_half, n, str(out_dir), per_half[n]) for n in names]
            outputs = [f.result() for f in futures]
    else:
        outputs = [run_half(n, str(out_dir), per_half[n]) for n in names]
    halves = {n: out[0] for n, out in zip(names, outputs, strict=True)}
    if halves["nosignal"].signal_strength != 0.0:
        raise ConfigError(
            f"learning check: the no-signal half ran with signal_strength="
            f"{halves['nosignal'].signal_strength}; it must be 0"
        )
    extras = outputs[0][1]
    return {
        **{name: asdict(h) for name, h in halves.items()},
        "checks": checks(halves["signal"], halves["nosignal"], extras),
        "min_oracle_ratio": float(extras.get("min_oracle_ratio", DEFAULT_MIN_RATIO)),
        "no_leak_z": float(extras.get("no_leak_z", DEFAULT_NO_LEAK_Z)),
    }


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`learning_check`'s result (what the CLI prints)."""

    def num(x: float | None, fmt: str = "{:+.2f}") -> str:
        return "n/a" if x is None else fmt.format(x)

    head = (
        f"{'data':<10}{'IC':>5}{'system':>9}{'oracle':>9}{'ratio':>7}{'sys.mode':>9}{'dir.orc':>9}"
        f"{'oracle*':>9}"
        f"{'eq.wt':>8}{'t(sys-ew)':>11}{'days':>6}{'train s':>9}  val rows"
    )
    lines = [head, "-" * len(head)]
    for name in EXPERIMENTS:
        h = result[name]
        lines.append(
            f"{name:<10}{h['signal_strength']:>5.2f}{num(h['system_sharpe']):>9}"
            f"{num(h['oracle_sharpe']):>9}{num(h['ratio'], '{:.2f}'):>7}"
            f"{num(h.get('system_mode_sharpe')):>9}"
            f"{num(h['direction_oracle_sharpe']):>9}{num(h['oracle_sharpe_frictionless']):>9}{num(h['equal_weight_sharpe']):>8}"
            f"{num(h['excess_t']):>11}{h['val_days']:>6}{h['train_seconds']:>9.0f}  {h['val_range']}"
        )
    lines.append(
        "Sharpe: annualised, validation split, net of costs through the env and risk transform; "
        "sys.mode = the same policy executing its most likely direction per leg; "
        f"dir.orc = long/flat/short from the true signal (flat while |s| < {DIRECTION_BAND}); "
        "oracle* = frictionless oracle (reference)"
    )
    c = result["checks"]
    lines.append(
        f"checks: system >= {result['min_oracle_ratio']:.2f} x oracle: "
        f"{c['reaches_oracle_ratio']}; beats equal weight: {c['beats_equal_weight']}; "
        f"no leak (t < {result['no_leak_z']}): {c['no_leak']}"
    )
    return "\n".join(lines)
