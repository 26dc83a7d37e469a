"""Test-suite settings: a Hypothesis profile that suits CPU torch (no deadline)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "robustmq", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("robustmq")
