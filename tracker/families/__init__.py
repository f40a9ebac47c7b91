"""Model families: which checkpoints exist (``catalog``), and what identifies a local
checkpoint's weights (``weights``).

The catalog's public names are resolved on first use, so that importing ``weights`` does not
import the catalog.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Checkpoint", "Family", "family_names", "load_family"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tracker.families import catalog

        return getattr(catalog, name)
    raise AttributeError(f"module 'tracker.families' has no attribute '{name}'")
