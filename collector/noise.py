"""The differential-privacy mechanisms, from OpenDP: the only module that imports it.

OpenDP (the OpenDP project, Harvard; vetted proofs beside each mechanism)
gates its mechanisms behind ``enable_features("contrib")``. Both used here
work on integers: the discrete Laplace (``make_laplace`` on an integer
domain) and its thresholded form for a table whose keys come from the data
(``make_laplace_threshold``). Integer mechanisms sample exactly, so the
"floating-point" feature, whose mechanisms can leak through rounding, is
not enabled. OpenDP draws from the operating system's secure random source
and cannot be seeded, by design: every release has fresh randomness.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import opendp.prelude as dp

dp.enable_features("contrib")

_MAP_DOMAIN = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int))
_MAP_METRIC = dp.l01inf_distance(dp.absolute_distance(T=int))


@functools.lru_cache(maxsize=64)
def _thresholded(scale: float, threshold: int) -> Any:
    return dp.m.make_laplace_threshold(_MAP_DOMAIN, _MAP_METRIC, scale=scale, threshold=threshold)


@functools.lru_cache(maxsize=64)
def _scalar(scale: float) -> Any:
    return dp.m.make_laplace(
        dp.atom_domain(T=int, nan=False), dp.absolute_distance(T=int), scale=scale
    )


def threshold_delta(scale: float, threshold: int, contribution: tuple[int, int, int]) -> float:
    """δ of the thresholded mechanism for one unit's (l0, l1, l∞), from OpenDP's privacy map."""
    _eps, delta = _thresholded(scale, threshold).map(contribution)
    return float(delta)


def release_cells(cells: Mapping[str, int], scale: float, threshold: int) -> dict[str, int]:
    """Noisy counts of the cells whose noisy count reaches ``threshold``; the rest are dropped."""
    if not cells:
        return {}
    out = _thresholded(scale, threshold)(dict(cells))
    return {str(k): int(v) for k, v in out.items()}


def noisy_count(value: int, scale: float) -> int:
    """``value`` plus discrete Laplace noise of ``scale``."""
    return int(_scalar(scale)(value))
