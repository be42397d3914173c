"""Variance-stabilising Anscombe transform and quantisation for photon-limited movies (numpy only).

A detector reading ``x`` is ``sensitivity * n + zero_level`` with ``n`` Poisson photon counts. After
converting to photons, ``y = 2 * sqrt(n + 3/8)`` has a noise standard deviation close to 1 at every
brightness, so rounding ``y / beta`` to an integer adds an error of standard deviation ``beta / sqrt(12)`` (in
units of the photon noise) everywhere: 0.144 for the default ``beta = 0.5``. Added in quadrature to the photon
noise that is about 1 % more noise, while the integers need far fewer bits than the
readings and compress well.

The inverse is the algebraic one, ``n = (y / 2) ** 2 - 3/8``, clipped at zero photons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CorruptMetadataError, InvalidOptionError

__all__ = ["AnscombeParams", "estimate_sensitivity", "forward", "inverse", "storage_dtype"]

_OFFSET = 3.0 / 8.0


@dataclass(frozen=True)
class AnscombeParams:
    """Parameters of one stored movie's transform.

    Parameters
    ----------
    sensitivity
        Detector units per photon (> 0).
    zero_level
        Detector reading for zero photons.
    beta
        Quantisation step in units of photon noise (0 < beta <= 2).

    Examples
    --------
    >>> AnscombeParams.from_dict(AnscombeParams(2.0, 100.0, 0.5).to_dict())
    AnscombeParams(sensitivity=2.0, zero_level=100.0, beta=0.5)
    """

    sensitivity: float
    zero_level: float
    beta: float = 0.5

    def __post_init__(self) -> None:
        for name in ("sensitivity", "zero_level", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise InvalidOptionError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise InvalidOptionError(f"{name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.sensitivity <= 0:
            raise InvalidOptionError(f"sensitivity must be positive, got {self.sensitivity}")
        if not 0 < self.beta <= 2:
            raise InvalidOptionError(f"beta must be in (0, 2], got {self.beta}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in the array's attributes and the table row.

        Returns
        -------
        dict
            The parameters as JSON-compatible data.
        """
        return {
            "name": "anscombe",
            "sensitivity": self.sensitivity,
            "zero_level": self.zero_level,
            "beta": self.beta,
            "inverse": "algebraic",
        }

    @classmethod
    def from_dict(cls, data: Any) -> AnscombeParams:
        """Read parameters written by :meth:`to_dict`; raise :class:`CorruptMetadataError` otherwise.

        Parameters
        ----------
        data : object
            The dict stored in the array's attributes.
        """
        if not isinstance(data, dict) or data.get("name") != "anscombe" or data.get("inverse") != "algebraic":
            raise CorruptMetadataError(
                "transform", f"expected an anscombe transform description, got {data!r}"
            )
        try:
            return cls(sensitivity=data["sensitivity"], zero_level=data["zero_level"], beta=data["beta"])
        except (KeyError, InvalidOptionError) as exc:
            raise CorruptMetadataError("transform", f"bad transform parameters {data!r} ({exc})") from exc


def storage_dtype(max_reading: float, params: AnscombeParams) -> np.dtype[Any]:
    """The smallest unsigned integer dtype that holds the quantised value of ``max_reading``."""
    photons = max(0.0, (float(max_reading) - params.zero_level) / params.sensitivity)
    top = math.ceil(2.0 * math.sqrt(photons + _OFFSET) / params.beta) + 1
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise InvalidOptionError(f"readings up to {max_reading} are too large for <photon>; use <zarr@store>")


def forward(readings: Any, params: AnscombeParams, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """Detector readings -> quantised Anscombe values of ``dtype``.

    Raises
    ------
    InvalidOptionError
        The readings contain NaN or infinity.
    """
    x = np.asarray(readings, dtype=np.float64)
    if not np.isfinite(x).all():
        raise InvalidOptionError("the movie contains NaN or infinite values, which are not photon counts")
    photons = np.maximum((x - params.zero_level) / params.sensitivity, 0.0)
    q = np.rint(2.0 * np.sqrt(photons + _OFFSET) / params.beta)
    top = np.iinfo(dtype).max
    if q.size and float(q.max()) > top:
        raise InvalidOptionError(f"a reading of {float(x.max())} does not fit the stored dtype {dtype}")
    return q.astype(dtype)


def inverse(quantised: Any, params: AnscombeParams) -> np.ndarray[Any, Any]:
    """Quantised Anscombe values -> detector readings (float32),
    the algebraic inverse clipped at 0 photons."""
    y = np.asarray(quantised, dtype=np.float64) * params.beta
    photons = np.maximum((y / 2.0) ** 2 - _OFFSET, 0.0)
    return (photons * params.sensitivity + params.zero_level).astype(np.float32)


def estimate_sensitivity(frames: Any, *, bins: int = 50) -> tuple[float, float]:
    """Estimate ``(sensitivity, zero_level)`` from a movie of shape (frames, height, width).

    For Poisson-limited readings the variance of each pixel is ``sensitivity * (mean - zero_level)``. The
    variance is taken from differences of consecutive frames (half their mean square), which removes slow
    changes of the signal; pixels are grouped in ``bins`` by brightness and a line is fitted to the median
    variance of each group.

    Raises
    ------
    InvalidOptionError
        The movie has fewer than 2 frames, too little spread in brightness, or no positive slope; pass
        ``sensitivity`` and ``zero_level`` explicitly (``PhotonValue``) in that case.
    """
    x = np.asarray(frames, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] < 2:
        raise InvalidOptionError(
            "estimating the photon sensitivity needs at least 2 frames; pass sensitivity= and zero_level= "
            "in PhotonValue"
        )
    mean = x.mean(axis=0).ravel()
    var = (np.diff(x, axis=0) ** 2).mean(axis=0).ravel() / 2.0
    edges = np.unique(np.quantile(mean, np.linspace(0, 1, bins + 1)))
    if edges.size < 3:
        raise InvalidOptionError(
            "the movie has too little spread in brightness to estimate the photon sensitivity; pass "
            "sensitivity= and zero_level= in PhotonValue"
        )
    which = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, edges.size - 2)
    centres, medians = [], []
    for b in range(edges.size - 1):
        sel = which == b
        if sel.sum() >= 3:
            centres.append(float(np.median(mean[sel])))
            medians.append(float(np.median(var[sel])))
    if len(centres) < 2:
        raise InvalidOptionError(
            "too few pixels to estimate the photon sensitivity; pass sensitivity= explicitly"
        )
    slope, intercept = np.polyfit(np.asarray(centres), np.asarray(medians), 1)
    if not (np.isfinite(slope) and slope > 0):
        raise InvalidOptionError(
            f"the variance does not grow with brightness (slope {slope:.3g}), so the movie does not look "
            "photon-limited; pass sensitivity= and zero_level= in PhotonValue, or store it with <zarr@store>"
        )
    return float(slope), float(-intercept / slope)
