"""The training process's environment: robust thread settings, the user's own choices kept."""

from __future__ import annotations

import pytest
from anytune_local.worker import training_env


def test_idle_openmp_threads_sleep_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = training_env(1)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_NUM_THREADS" not in env  # torch picks one per core
    assert env["PYTHONSAFEPATH"] == "1"


def test_the_users_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = training_env(2)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
    assert env["OMP_NUM_THREADS"] == "3"


def test_several_processes_get_one_thread_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert training_env(2)["OMP_NUM_THREADS"] == "1"
