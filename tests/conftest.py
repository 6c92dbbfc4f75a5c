"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge behaviour, never speed (speed lives in benchmarks/): on a shared
# 2-core machine a slow example is not a failure.
settings.register_profile("classcert", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("classcert")


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's signing key: each test session gets its own config dir."""
    cfg = tmp_path_factory.getbasetemp() / "classcert-config"
    monkeypatch.setenv("CLASSCERT_CONFIG_DIR", str(cfg))


