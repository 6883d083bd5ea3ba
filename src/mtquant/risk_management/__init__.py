"""Portfolio risk: VaR library, limit enforcement, risk manager, pre-trade checks, transform.

Submodules are imported explicitly (``from mtquant.risk_management.var import parametric_var``)
so that importing the package does not pull in TorchRL or matplotlib.
"""
