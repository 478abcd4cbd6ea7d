"""The 12 baseline quality estimators, registered by name in ``BASELINES``."""

BASELINES: dict[str, type] = {}
