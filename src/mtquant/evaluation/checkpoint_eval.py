"""Score a training run's exports and every baseline on a held-out split, and write the report.

:func:`evaluate_checkpoint` is what ``scripts/evaluate.py`` runs:

1. data, splits and features exactly as training built them (``pipeline.prepare``: features are
   normalised with statistics of the training split only);
2. the run's exports are loaded into a policy built from the *evaluation* config, phase by
   phase as far as the run got (``pipeline.load_exports`` checks instruments, specialists and
   dimensions and raises :class:`CheckpointError` naming what differs);
3. the system and the baselines run deterministically through the same env, costs and risk
   transform on ``cfg.split`` (default ``test``); the decision latency of
   ``HierarchicalTradingSystem.step()`` is timed;
4. ``metrics.json``, the PNGs and ``report.html`` go to ``out_dir``.

Deflated Sharpe, number of trials: every strategy in the report counts as one configuration
tried (a reader who picks the best row has made that many trials), plus the configurations a
hyper-parameter sweep recorded in the model card (``n_trials``) beyond the one kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from mtquant.agents.baselines import (
    BuyAndHold,
    EqualWeight,
    FlatPPOPolicy,
    InverseVolatility,
    TimeSeriesMomentum,
)
from mtquant.agents.sizing import execution_note
from mtquant.config import RunConfig
from mtquant.config.training import PHASES
from mtquant.errors import CheckpointError
from mtquant.evaluation.backtest import (
    Policy,
    measure_decision_latency,
    return_correlation,
    run_strategy,
)
from mtquant.evaluation.report import provenance_rows, write_report
from mtquant.evaluation.results import StrategyResult, summarise, target_table
from mtquant.evaluation.verdict import VerdictContext

SYSTEM = "hierarchical"
SINGLE_AGENT_EXPORT = "single_agent_ppo.pt"  # written by a run that also trained the flat PPO
SINGLE_AGENT = "single_agent_ppo"


def load_trained_policy(cfg: RunConfig, run_dir: Path, policy: Any) -> list[str]:
    """Load every completed phase's exports of ``run_dir`` into ``policy``; the phases loaded.

    A phase counts as completed when all its export files exist. A state dict whose tensors do
    not fit the policy built from ``cfg`` is refused with the offending keys named.
    """
    from mtquant.agents.training.pipeline import export_files, load_exports

    if not run_dir.is_dir():
        raise CheckpointError(f"checkpoint {run_dir}: not a directory (a training run dir)")
    loaded = []
    for phase in PHASES:
        files = export_files(phase, list(policy.names))
        if not all((run_dir / f).is_file() for f in files):
            continue
        try:
            load_exports(cfg, run_dir, policy, phase)
        except RuntimeError as exc:  # load_state_dict: missing/unexpected keys, shape mismatch
            raise CheckpointError(
                f"checkpoint {run_dir} ({', '.join(files)}): weights do not fit the network "
                f"built from the config: {exc}"
            ) from None
        loaded.append(phase)
    if not loaded:
        wanted = [f for p in PHASES for f in export_files(p, list(policy.names))]
        raise CheckpointError(f"checkpoint {run_dir}: no complete phase export found ({wanted})")
    policy.fixed_allocation = "phase2" not in loaded and "phase3" not in loaded
    return loaded


def load_single_agent(cfg: RunConfig, run_dir: Path, features: Any) -> FlatPPOPolicy | None:
    """The run's flat single-agent PPO baseline (``single_agent_ppo.pt``), or None if not trained."""
    from mtquant.agents.training.exports import load_export
    from mtquant.instruments import InstrumentUniverse

    path = run_dir / SINGLE_AGENT_EXPORT
    if not path.is_file():
        return None
    universe = InstrumentUniverse.from_config(cfg.instruments)
    expected = {"component": SINGLE_AGENT, "symbols": universe.symbols}
    state, meta = load_export(path, expected)
    dims = {s: int(features.market[s].shape[-1]) for s in universe.specialists}
    recorded = meta.get("dims", {})
    net = FlatPPOPolicy(
        universe.n,
        dims,
        universe.specialist_index(),
        state_dim=int(recorded.get("state_dim", 74)),
        obs_dim=int(recorded.get("obs_dim", 50)),
        hidden_dim=int(recorded.get("hidden_dim", 256)),
        position_mode=cfg.agents.position_mode,
    )
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {path}: weights do not fit the flat PPO: {exc}"
        ) from None
    net.eval()
    return net


def baseline_policies(
    cfg: RunConfig, features: Any, run_dir: Path | None = None
) -> tuple[dict[str, Policy], list[str]]:
    """``({name: policy writing target_weights}, [names not available, with the reason])``."""
    policies: dict[str, Policy] = {
        "equal_weight": EqualWeight(),
        "inverse_vol": InverseVolatility(),
        "ts_momentum": TimeSeriesMomentum(features, cfg.env.sizing_target_vol),
        "buy_and_hold": BuyAndHold(),
    }
    missing = []
    flat = None if run_dir is None else load_single_agent(cfg, run_dir, features)
    if flat is None:
        missing.append(f"{SINGLE_AGENT}: not trained in this run (no {SINGLE_AGENT_EXPORT})")
    else:
        policies[SINGLE_AGENT] = flat.with_sizing(
            cfg.env.sizing_target_vol, cfg.env.max_gross_weight
        )
    return policies, missing


def read_model_card(run_dir: Path) -> dict[str, Any]:
    """The run's ``model_card.json`` (empty dict when absent or unreadable)."""
    path = run_dir / "model_card.json"
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def count_trials(card: Mapping[str, Any], n_strategies: int) -> int:
    """Configurations tried for the DSR: the report's strategies + recorded sweep trials - 1."""
    recorded = card.get("n_trials", card.get("training", {}).get("n_trials", 1))
    try:
        sweep = max(1, int(recorded))
    except (TypeError, ValueError):
        sweep = 1
    return n_strategies + sweep - 1


def score(
    cfg: RunConfig,
    results: list[StrategyResult],
    n_trials: int,
    latency_ms: float | None,
    period: str,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Summaries of every result and the target table of the system (the first result)."""
    sums = {
        r.name: summarise(
            r,
            n_trials=n_trials,
            var_coverage=cfg.risk.var_confidence,
            var_limit=cfg.risk.max_portfolio_var,
            seed=cfg.seed,
        )  # fmt: skip
        for r in results
    }
    targets = target_table(
        sums[results[0].name], latency_ms=latency_ms, var_limit=cfg.risk.max_portfolio_var,
        correlation_target=cfg.risk.max_correlation_exposure, period=period,
    )  # fmt: skip
    return sums, targets


def evaluate_checkpoint(cfg: RunConfig, out_dir: str | Path) -> dict[str, Path]:
    """Evaluate ``cfg.checkpoint`` on ``cfg.split`` and write the report into ``out_dir``."""
    from mtquant.agents.hierarchical.policy import build_policy
    from mtquant.agents.training.pipeline import prepare

    if not cfg.checkpoint:
        raise CheckpointError("config checkpoint: give the training run directory (checkpoint=DIR)")
    run_dir = Path(cfg.checkpoint)
    torch.set_num_threads(cfg.hardware.torch_threads)
    policy = build_policy(cfg.agents, cfg.instruments)
    phases = load_trained_policy(cfg, run_dir, policy)  # refuse a bad checkpoint before the data
    policy.eval()
    ctx = prepare(cfg)  # data, splits and features exactly as training built them
    features, splits = ctx["features"], ctx["splits"]
    split = splits.range(cfg.split)
    system = policy.with_sizing(cfg.env.sizing_target_vol, cfg.env.max_gross_weight)
    results = [run_strategy(cfg, features, split, system, SYSTEM, hierarchical=True)]
    baselines, missing = baseline_policies(cfg, features, run_dir)
    results += [run_strategy(cfg, features, split, p, n) for n, p in baselines.items()]
    latency = measure_decision_latency(cfg, features, split, system)

    card = read_model_card(run_dir)
    n_trials = count_trials(card, len(results))
    first, last = results[0].dates[0], results[0].dates[-1]
    months = cfg.data.split.test_months if cfg.split == "test" else cfg.data.split.val_months
    label = f"{months}-month {cfg.split}" if cfg.split != "train" else "train split"
    sums, targets = score(cfg, results, n_trials, latency["median_ms"], label)
    notes = [
        f"Phases loaded from {run_dir}: {', '.join(phases)}.",
        execution_note(cfg.agents.position_mode),
        f"Deflated Sharpe counts {n_trials} configurations: the {len(results)} strategies of this "
        "report plus any sweep trials the model card records.",
        *[f"Baseline {m}." for m in missing],
    ]
    trained_on = card.get("data", {})
    if trained_on and trained_on.get("source") not in (None, cfg.data.source):
        notes.append(
            f"The checkpoint was trained on data source {trained_on.get('source')!r} and is "
            f"evaluated on {cfg.data.source!r}."
        )
    extra: dict[str, list[dict[str, Any]]] = {
        "Decision latency (HierarchicalTradingSystem.step, ms)": [
            {k: round(v, 3) if k != "n" else int(v) for k, v in latency.items()}
        ],
        "Checkpoint": [
            {
                "run_dir": str(run_dir),
                "phases": ", ".join(phases),
                **{k: str(v) for k, v in trained_on.items()},
                "config_hash": str(card.get("config_hash", "n/a")),
            }
        ],
        "Baselines not scored": [{"baseline": m} for m in missing],
    }
    ctx_v = VerdictContext(
        system=SYSTEM, period=f"the {label} {first} to {last}", seed=cfg.seed, notes=notes
    )
    split_desc = {**splits.describe(), "evaluated": f"{cfg.split}: {first}..{last}"}
    return write_report(
        out_dir, results, sums, provenance_rows(ctx["data"].provenance), split_desc, ctx_v,
        extra, target_rows=targets, correlation=return_correlation(features, split),
    )  # fmt: skip
