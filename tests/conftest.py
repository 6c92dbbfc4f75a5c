"""Shared fixtures of the project's own tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's signing key: each test session gets its own config dir."""
    cfg = tmp_path_factory.getbasetemp() / "classcert-config"
    monkeypatch.setenv("CLASSCERT_CONFIG_DIR", str(cfg))


