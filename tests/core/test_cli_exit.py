"""The console script leaves its objects to the OS at exit instead of collecting them all
(Python's shutdown walk took 1-2 s after commands that load a tokenizer)."""

from __future__ import annotations

import gc

import pytest

from anytune.cli import main


def test_the_console_script_freezes_its_objects_before_exit() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        with pytest.raises(SystemExit) as exited:
            main(["--help"])
        assert exited.value.code == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_it_also_freezes_when_the_command_fails() -> None:
    try:
        with pytest.raises(SystemExit) as exited:
            main(["no-such-command"])
        assert exited.value.code != 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
