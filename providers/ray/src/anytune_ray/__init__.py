"""anytune's Ray provider: the local provider's recipe as Ray jobs (see ``provider``)."""

from __future__ import annotations

from anytune_ray.provider import RayProvider

__all__ = ["RayProvider"]
