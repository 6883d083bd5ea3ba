"""Agents: the hierarchical policy (meta-controller, specialists), sizing, environments, training."""
