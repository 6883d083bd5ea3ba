"""The hierarchy: meta-controller (level 1), specialists (level 2) with one head per instrument
(level 3), their registry, the communication hub and the tensordict policy wrapper.

Import the classes from their modules (the plan's paths), e.g.
``from mtquant.agents.hierarchical.meta_controller import MetaController``.
"""
