"""The specialists' domain view: each specialist's regime and calendar methods, day by day."""

from __future__ import annotations

from mtquant.agents.hierarchical.domain_view import _summary, domain_view_rows
from mtquant.agents.hierarchical.specialist_factory import SpecialistRegistry
from mtquant.config import compose_config, to_object
from mtquant.data import load_market_data


def test_summary_gives_label_shares_number_ranges_and_flag_shares() -> None:
    assert _summary(["a", "b", "a", "a"]) == "a 75%, b 25%"
    assert _summary([True, False, False, False]) == "25% of 4 days"
    assert _summary([1.0, 2.0, 3.0]) == "mean 2 (min 1, max 3)"


def test_every_specialist_reports_its_regime_and_calendar_methods_day_by_day() -> None:
    cfg = to_object(compose_config("train", ["data=synthetic", "data.synthetic.n_days=600",
                                             "data.synthetic.calibrate_to_packaged=false"]))  # fmt: skip
    data = load_market_data(cfg)
    registry = SpecialistRegistry()
    specialists = {
        name: registry.create_specialist(name, {"instruments": list(symbols)})
        for name, symbols in cfg.instruments.specialists.items()
    }
    rows = domain_view_rows(specialists, data, (300, 320))
    views = {(r["specialist"], r["view"]) for r in rows}
    assert views == {
        ("forex", "correlation regime"), ("forex", "carry signal"),
        ("forex", "central-bank decision within 7 days"),
        ("commodities", "inflation regime"), ("commodities", "safe-haven demand"),
        ("commodities", "OPEC meeting within 14 days"),
        ("equity", "fear/greed index"), ("equity", "earnings season"),
        ("equity", "sector rotation"),
    }  # fmt: skip
    regime = next(r for r in rows if r["view"] == "inflation regime")["summary"]
    assert sum(int(part.split()[-1][:-1]) for part in regime.split(", ")) in (99, 100, 101)
