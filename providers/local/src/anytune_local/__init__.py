"""anytune's ``local`` provider: LoRA/QLoRA fine-tuning on this machine as background jobs.

Use it through anytune (``anytune run FILE --provider local --model DIR`` or
``Client("local")``); ``LocalProvider`` is the provider class. Importing this package loads
no ML library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anytune_local.provider import LocalProvider

__all__ = ["LocalProvider"]


def __getattr__(name: str) -> Any:
    if name == "LocalProvider":
        from anytune_local.provider import LocalProvider

        return LocalProvider
    raise AttributeError(name)
