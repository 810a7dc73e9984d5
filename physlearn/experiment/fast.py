"""Fast mode: ``PHYSLEARN_FAST=1`` shrinks every example to a run of seconds.

The examples teach with the sizes a reader would use; the test suite and the documentation
build run each of them in fast mode (fewer samples, epochs, seeds), where the code paths,
printed tables and figures are the same and only the numbers are rougher.
"""

from __future__ import annotations

import os

__all__ = ["fast_mode"]


def fast_mode() -> bool:
    """True when the environment variable ``PHYSLEARN_FAST`` is ``1``.

    Returns
    -------
    bool
        ``PHYSLEARN_FAST=1``: True; unset, empty or ``0``: False.

    Raises
    ------
    ValueError
        For any other value, naming it (a typo such as ``PHYSLEARN_FAST=yes`` would otherwise
        run the full example silently).
    """
    value = os.environ.get("PHYSLEARN_FAST", "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"PHYSLEARN_FAST={value!r}: expected 1 (fast mode), 0 or unset")
    return value == "1"
