"""Persistence only: one immutable, checksummed file per finished unit, read back as pandas.

``run_store`` (the run directory: :class:`RunStore`), ``units`` (unit keys), ``settings``
(which stored results may share a fit), ``integrity`` (checksums), ``unit_index`` (the
verified index of records), ``example_rows`` (per-example rows in long form) and ``files``
(atomic writes).

``tracker.store.RunStore`` is resolved on first use, so that importing one submodule (say
``files``) does not import the whole store.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunStore"]


def __getattr__(name: str) -> Any:
    if name == "RunStore":
        from tracker.store.run_store import RunStore

        return RunStore
    raise AttributeError(f"module 'tracker.store' has no attribute '{name}'")
