"""Test support that must be importable by spawned worker processes (not a production path).

``toy``: a millisecond-scale env and hierarchical policy speaking the env's contract keys, for the
PPO core, the collector feed and the phase modules; ``random_walk``: a seeded random-walk
``FeatureSet`` for the environment, broker and kernel tests. Coverage leaves this package out.
"""
