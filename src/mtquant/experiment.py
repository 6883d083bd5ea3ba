"""``Experiment``: one MTQuant run assembled from its config, and what can be done with it.

::

    exp = Experiment.from_config(cfg)       # data, splits, universe, features, limits, policy
    exp.fit("outputs/run1")                  # the stages of training.phases (resumable)
    exp.load("outputs/run1")                 # a finished run's exports into the policy
    ev = exp.evaluate("test")                # system, single agent, baselines on the split
    exp.write_report(ev, "outputs/eval1")    # metrics.json, PNGs, report.html
    exp.model_card(metrics)                  # what model_card.json records

Everything a run needs is built once here, and every entry point goes through it:
``scripts/train.py`` (fit), ``scripts/evaluate.py`` (load, evaluate, report), the walk-forward
(one Experiment per fold, :meth:`with_seed` per seed), the learning check and the bench.
Features are normalised with statistics of the training rows only; the test rows are read by
:meth:`evaluate` alone. The run directory's layout is :class:`~mtquant.artifacts.RunDir`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from tensordict import TensorDictBase
from tensordict.nn import TensorDictSequential
from torchrl.envs import EnvBase

from mtquant.agents.baselines import FlatPPOPolicy, rule_baselines
from mtquant.agents.environments import make_env
from mtquant.agents.hierarchical.domain_view import domain_view_rows
from mtquant.agents.hierarchical.policy import HierarchicalPolicy, build_policy
from mtquant.agents.training.phase_runner import fit_stage
from mtquant.agents.training.single_agent import SingleAgentView, single_agent_view
from mtquant.agents.training.stages import STAGES, stage
from mtquant.artifacts import (
    SINGLE_AGENT_COMPONENT,
    SINGLE_AGENT_EXPORT,
    RunDir,
    package_versions,
    run_hash,
)
from mtquant.config.risk import RiskConfig
from mtquant.config.store import RunConfig
from mtquant.config.training import PHASES, SINGLE_AGENT
from mtquant.data import MarketData, Splits, load_market_data, make_splits
from mtquant.evaluation.backtest import Policy, measure_decision_latency, run_strategy
from mtquant.evaluation.evaluation_report import SYSTEM, Evaluation, write_evaluation_report
from mtquant.evaluation.results import StrategyResult
from mtquant.features import compute_features
from mtquant.features.feature_set import FeatureSet
from mtquant.instruments import InstrumentUniverse
from mtquant.risk_management.limits import RiskLimits
from mtquant.risk_management.portfolio_risk_manager import last_book_risk_rows


@dataclass
class Experiment:
    """The assembled run (module doc). Build it with :meth:`from_config`."""

    cfg: RunConfig
    data: MarketData
    splits: Splits
    universe: InstrumentUniverse
    features: FeatureSet
    limits: RiskLimits
    policy: HierarchicalPolicy
    run_dir: RunDir | None = None  # where the policy's weights come from (fit or load)
    phases: list[str] = field(default_factory=list)  # hierarchical phases the policy holds
    flat: FlatPPOPolicy | None = None  # the single-agent baseline, when trained or loaded
    _view: SingleAgentView | None = field(default=None, repr=False)  # its training view
    # configurations tried beside this run (a sweep's jobs), for the model card and the DSR
    trials: dict[str, Any] = field(default_factory=lambda: {"n_trials": 1, "sweep": None})

    @classmethod
    def from_config(
        cls, cfg: RunConfig, splits: Splits | None = None, data: MarketData | None = None
    ) -> Experiment:
        """Data (``data.source``), splits (default: ``data.split``; a walk-forward passes its
        fold's), features normalised on the training rows, limits, and a fresh policy whose
        initial weights come from ``cfg.seed`` (set with Lightning's ``seed_everything``)."""
        data = load_market_data(cfg) if data is None else data
        splits = make_splits(data.dates, cfg.data.split) if splits is None else splits
        universe = InstrumentUniverse.from_config(cfg.instruments)
        features = cls._features(cfg, data, splits, universe)
        limits = RiskLimits.from_config(cfg.risk, universe)
        return cls(cfg, data, splits, universe, features, limits, cls._fresh_policy(cfg, features))

    @staticmethod
    def _features(
        cfg: RunConfig, data: MarketData, splits: Splits, universe: InstrumentUniverse
    ) -> FeatureSet:
        """Features of ``data`` normalised on the training rows, with the risk keys they read."""
        risk = cfg.risk
        return compute_features(
            data, universe, train_end=splits.train[1], var_window=risk.var_window,
            regime_rule=(risk.correlation_window, risk.spike_ratio, risk.breakdown_ratio),
        )  # fmt: skip

    @staticmethod
    def _fresh_policy(cfg: RunConfig, features: FeatureSet) -> HierarchicalPolicy:
        seed_everything(cfg.seed, workers=True, verbose=False)
        return build_policy(cfg.agents, cfg.instruments, features=features)

    def with_seed(self, seed: int) -> Experiment:
        """The same data, splits and features with ``seed``: a fresh policy, nothing trained."""
        cfg = replace(self.cfg, seed=seed)
        return replace(
            self, cfg=cfg, policy=self._fresh_policy(cfg, self.features), run_dir=None,
            phases=[], flat=None, _view=None,
        )  # fmt: skip

    def with_risk(self, risk: RiskConfig) -> Experiment:
        """The same run under other risk settings (its limits, VaR model and breaker): features
        are recomputed only when a key they read changes (``var_window``, the correlation regime
        rule); the policy's weights are shared."""
        risk.validate()
        cfg = replace(self.cfg, risk=risk)
        old = self.cfg.risk
        reads = ("var_window", "correlation_window", "spike_ratio", "breakdown_ratio")
        features = self.features
        if any(getattr(risk, k) != getattr(old, k) for k in reads):
            features = self._features(cfg, self.data, self.splits, self.universe)
        limits = RiskLimits.from_config(risk, self.universe)
        return replace(self, cfg=cfg, features=features, limits=limits)

    # ---------------------------------------------------------------- environments
    def make_env(
        self,
        rows: tuple[int, int],
        batch_size: int | None = None,
        device: torch.device | str | None = None,
        seed: int | None = None,
        **env_kwargs: Any,
    ) -> EnvBase:
        """``MultiInstrumentEnv`` + ``PortfolioRiskTransform`` on ``rows`` of the features."""
        return make_env(
            self.cfg, self.features, rows, batch_size=batch_size, device=device, seed=seed,
            universe=self.universe, limits=self.limits, **env_kwargs,
        )  # fmt: skip

    # ---------------------------------------------------------------- training
    def fit(self, run_dir: str | Path, stages: list[str] | None = None) -> dict[str, Any]:
        """Train the stages of ``training.phases`` (or ``stages``) in table order into ``run_dir``.

        A stage whose exports exist is loaded, not retrained; an interrupted one resumes from
        its ``last.ckpt``. After each stage the run dir holds its exports, ``config.yaml`` and
        the model card. Returns ``val/sharpe`` (the last hierarchical stage trained here; the
        single agent's only when no phase was), per-stage metrics and the run dir.
        """
        cfg = self.cfg
        run = RunDir(run_dir)
        torch.set_num_threads(cfg.hardware.torch_threads)
        run.write_config(cfg)
        wanted = list(cfg.training.phases if stages is None else stages)
        names = list(self.policy.names)
        metrics: dict[str, dict[str, float]] = {}
        for name in STAGES:
            done = run.is_complete(name, names)
            if not done and name not in wanted:
                continue
            if done:
                run.load_stage(cfg, name, self._exported(name))
                continue
            metrics[name] = self.fit_stage(name, run)
            if getattr(rank_zero_only, "rank", 0) == 0:  # DDP: ranks hold the same weights
                run.save_stage(cfg, name, self._exported(name))
                run.write_model_card(self.model_card(metrics))
        self._hold(run, [p for p in PHASES if run.is_complete(p, names)])
        ranked = [m for p, m in metrics.items() if p in PHASES] or list(metrics.values())
        sharpe = ranked[-1].get("val/sharpe", float("nan")) if ranked else float("nan")
        return {"val/sharpe": sharpe, "phases": metrics, "run_dir": str(run.path)}

    def fit_stage(self, name: str, run_dir: str | Path | RunDir) -> dict[str, float]:
        """Train one stage of the table (no exports, no model card; :meth:`fit` writes those),
        resuming from its ``last.ckpt`` in ``run_dir``; return its validation metrics."""
        row = stage(name)
        network = self._single_agent() if row.network == "single_agent" else self.policy
        run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        rows = (self.splits.train, self.splits.val)
        return fit_stage(row, network, self.cfg, self.features, rows, make_env, run)

    def _single_agent(self) -> SingleAgentView:
        """The flat baseline's network for this seed, built once (its own seed, RNG untouched)."""
        if self._view is None:
            seed = stage(SINGLE_AGENT).seed(self.cfg.seed)
            self._view = single_agent_view(self.cfg, self.features, seed)
        return self._view

    def _exported(self, name: str) -> Any:
        """The network whose weights stage ``name``'s exports hold."""
        return self._single_agent().net if stage(name).network == "single_agent" else self.policy

    def _hold(self, run: RunDir, phases: list[str]) -> None:
        """Record what the in-memory networks now hold, in evaluation mode."""
        self.run_dir, self.phases = run, phases
        self.policy.fixed_allocation = "phase2" not in phases and "phase3" not in phases
        self.policy.eval()
        self.flat = None if self._view is None else self._view.net.eval()

    def load(self, run_dir: str | Path) -> list[str]:
        """Load a training run's exports (every completed phase, and the single agent if it was
        trained) into this experiment's networks; return the phases loaded.

        Raises :class:`~mtquant.errors.CheckpointError` naming the file and what differs when
        the run was trained for other instruments, specialists or network sizes.
        """
        run = RunDir(run_dir)
        phases = run.load_hierarchy(self.cfg, self.policy)
        self.run_dir, self.phases = run, phases
        self.policy.eval()
        with torch.random.fork_rng(devices=[]):  # building the flat net leaves the RNG alone
            self.flat = run.load_flat(self.cfg, self.universe.specialist_index())
        return phases

    # ---------------------------------------------------------------- evaluation
    def system_actor(self) -> TensorDictSequential:
        """The trained policy + the env's sizing: what trades in every evaluation."""
        return self.policy.with_sizing(
            self.cfg.env.sizing_target_vol, self.cfg.env.max_gross_weight
        )

    def baselines(self) -> tuple[dict[str, Policy], list[str]]:
        """``({name: policy}, [strategies not available, with the reason])``: the rule-based
        baselines and, when this run trained or loaded it, the single-agent PPO."""
        policies: dict[str, Policy] = dict(rule_baselines(self.cfg, self.features))
        missing = []
        if self.flat is None:
            missing.append(
                f"{SINGLE_AGENT_COMPONENT}: not trained in this run (no {SINGLE_AGENT_EXPORT})"
            )
        else:
            env = self.cfg.env
            policies[SINGLE_AGENT_COMPONENT] = self.flat.with_sizing(
                env.sizing_target_vol, env.max_gross_weight
            )
        return policies, missing

    def run(
        self,
        policy: Policy | TensorDictBase,
        name: str,
        rows: tuple[int, int],
        cost_multiplier: float | None = None,
        hierarchical: bool = False,
    ) -> StrategyResult:
        """One deterministic pass of ``policy`` over ``rows`` through the env and risk transform."""
        return run_strategy(
            self.cfg, self.features, rows, policy, name,  # type: ignore[arg-type]
            cost_multiplier=cost_multiplier, hierarchical=hierarchical,
        )  # fmt: skip

    def evaluate(self, split: str = "test") -> Evaluation:
        """The system, then every baseline, on ``split`` (train | val | test), and the decision
        latency of ``HierarchicalTradingSystem.step()`` there."""
        torch.set_num_threads(self.cfg.hardware.torch_threads)
        rows = self.splits.range(split)
        system = self.system_actor()
        results = [self.run(system, SYSTEM, rows, hierarchical=True)]
        policies, missing = self.baselines()
        results += [self.run(p, n, rows) for n, p in policies.items()]
        latency = measure_decision_latency(self.cfg, self.features, rows, system)
        card = self.run_dir.read_model_card() if self.run_dir is not None else {}
        first = max(rows[0], self.features.valid_from)
        specialists = {n: self.policy.specialist(n) for n in self.policy.names}
        view = domain_view_rows(specialists, self.data, (first, rows[1] - 1))
        last = rows[1] - 1  # the system's last book, on the returns up to its day
        history = self.features.returns[max(0, last - self.cfg.risk.var_window + 1) : last + 1]
        book = last_book_risk_rows(
            self.cfg.risk, self.universe, results[0].weights[-1], float(results[0].equity[-1]),
            history.double().numpy(),
        )  # fmt: skip
        return Evaluation(
            split, rows, results, latency, missing, list(self.phases),
            str(self.run_dir.path) if self.run_dir is not None else "", card, view, book,
        )  # fmt: skip

    def write_report(self, ev: Evaluation, out_dir: str | Path) -> dict[str, Path]:
        """``metrics.json``, the PNGs and ``report.html`` of ``ev`` into ``out_dir``."""
        return write_evaluation_report(
            self.cfg, ev, self.features, self.splits, self.data.provenance, out_dir
        )

    # ---------------------------------------------------------------- records
    def model_card(self, metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
        """What ``model_card.json`` records: instruments and their provenance, data range and
        splits, the stages' metrics, schedule and curriculum, seed, the configurations tried beside
        this run (``n_trials``, read by the Deflated Sharpe Ratio), package versions and the
        config hash."""
        cfg, data = self.cfg, self.data
        spec = cfg.instruments.symbols
        return {
            "name": f"mtquant hierarchical system ({cfg.training.name} schedule)",
            "created": datetime.now().isoformat(timespec="seconds"),
            "instruments": {
                s: f"{spec[s].description} | {p.kind}: {p.source} {p.note}".strip()
                for s, p in data.provenance.items()
            },
            "specialists": cfg.instruments.active_groups(),
            "data": {
                "source": cfg.data.source,
                "range": f"{data.dates[0].date()}..{data.dates[-1].date()}",
                **{f"split.{k}": v for k, v in self.splits.describe().items()},
            },
            "metrics": {f"{p}/{k}": v for p, m in metrics.items() for k, v in m.items()},
            "training": {
                "phases": list(cfg.training.phases),
                "seed": cfg.seed,
                "risk.max_portfolio_var": cfg.risk.max_portfolio_var,
                **{
                    f"{name}.curriculum": [
                        f"{c.name}: {c.fraction:.0%} of the frames, costs x{c.cost_multiplier}, "
                        f"starts at market vol <= q{c.max_volatility_quantile}"
                        for c in getattr(cfg.training, name).curriculum
                    ]
                    for name in cfg.training.phases
                },
            },
            "n_trials": int(self.trials["n_trials"]),
            "sweep": self.trials.get("sweep"),
            "versions": package_versions(),
            "config_hash": run_hash(cfg),
        }
