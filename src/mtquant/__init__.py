"""MTQuant: hierarchical multi-agent RL trading system."""

__version__ = "0.3.0"
