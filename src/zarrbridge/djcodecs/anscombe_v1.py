"""``<photon@>`` format 2: movies stored through anscombe-transform's ``anscombe-v1`` zarr codec.

anscombe-transform (maintained by DataJoint) is an array-to-array zarr v3 codec: the array holds detector
readings (integers from 0 to 32767), each chunk is stored as codes of a lookup table
``round(2 / beta * (sqrt((x - zero_level) / conversion_gain + 3/8) - sqrt(3/8)))`` shifted so that a reading
of 0 is code 0 and continued linearly below ``zero_level`` (``beta = 0.5``). Decoding maps each code to the
middle of the readings that share it. Any zarr reader with anscombe-transform installed decodes the movie.

zarrbridge chooses the codec's parameters so that its decoding is right and unbiased:

- **No clipping.** Readings below ``zero_level`` (read noise on dark pixels) keep their own codes in the
  linear part of the table instead of being clipped to zero photons, which biased the mean of dark movies
  upwards (format 1: +0.32 noise standard deviations at 0.2 photons/pixel with read noise of one photon).
- **Consecutive codes.** The codec's inverse table is indexed by the rank of each distinct code, so it is
  only right when the table never skips a code, i.e. when ``conversion_gain >= 1 / beta / sqrt(3/8)``
  (3.27 detector units per photon). For detectors with a smaller gain (photon counters: 1 unit per photon)
  the gain given to the codec is raised to that bound: codes then step by at most one reading, so low counts
  are stored exactly, and bright pixels are quantised a little more coarsely than ``beta``.
- **Centred zero.** The gain is adjusted (by at most half a code step around ``zero_level``, about 1 %) so
  that ``zero_level`` falls in the middle of its code's readings: otherwise the many zero-photon pixels of a
  dark movie all decode off-centre.
- **Codes that fit.** The table covers every reading up to 32767 and wraps silently if its codes overflow the
  encoded type, which would corrupt the decoding of every code; the encoded type is ``uint8`` when the whole
  table fits, else ``uint16``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._optional import import_optional
from ..errors import CorruptMetadataError, InvalidOptionError

__all__ = [
    "BETA",
    "CODEC_NAME",
    "INPUT_MAX",
    "MIN_GAIN",
    "CodecSettings",
    "choose_settings",
    "codec_module",
    "to_readings",
]

CODEC_NAME = "anscombe-v1"
BETA = 0.5  # the codec's fixed quantisation step, in units of the photon noise
INPUT_MAX = 0x7FFF  # the codec's lookup table covers readings 0..32767
MIN_GAIN = 1.0 / BETA / math.sqrt(3.0 / 8.0)  # below it the table skips codes (see the module docstring)


def codec_module() -> Any:
    """``anscombe_transform.codec`` (importing it registers ``anscombe-v1`` with zarr and numcodecs)."""
    return import_optional(
        "anscombe_transform.codec", extra="datajoint", feature="the <photon@> DataJoint codec"
    )


def _table_top(zero_level: int, conversion_gain: float) -> float:
    """The (unrounded) largest code of the codec's table: the code of reading :data:`INPUT_MAX`."""
    photons = (INPUT_MAX - zero_level) / conversion_gain
    offset = zero_level * MIN_GAIN / conversion_gain
    return offset + 2.0 / BETA * (math.sqrt(photons + 3.0 / 8.0) - math.sqrt(3.0 / 8.0))


@dataclass(frozen=True)
class CodecSettings:
    """The ``anscombe-v1`` configuration of one stored movie.

    Parameters
    ----------
    zero_level
        Reading for zero photons given to the codec (an integer in 0..32767).
    conversion_gain
        Detector units per photon given to the codec (>= :data:`MIN_GAIN`).
    encoded_dtype
        ``"uint8"`` or ``"uint16"``: the stored codes.
    decoded_dtype
        The array's data type: the readings as zarr returns them.
    """

    zero_level: int
    conversion_gain: float
    encoded_dtype: str
    decoded_dtype: str

    def __post_init__(self) -> None:
        problem = ""
        if isinstance(self.zero_level, bool) or not isinstance(self.zero_level, int):
            problem = f"zero_level {self.zero_level!r} is not an integer"
        elif not 0 <= self.zero_level <= INPUT_MAX:
            problem = f"zero_level {self.zero_level} is outside 0..{INPUT_MAX}"
        elif not (isinstance(self.conversion_gain, (int, float)) and math.isfinite(self.conversion_gain)):
            problem = f"conversion_gain {self.conversion_gain!r} is not a finite number"
        elif self.conversion_gain < MIN_GAIN * (1 - 1e-9):
            problem = (
                f"conversion_gain {self.conversion_gain} is below {MIN_GAIN:.4f}, where codes are skipped"
            )
        elif self.encoded_dtype not in ("uint8", "uint16"):
            problem = f"encoded_dtype {self.encoded_dtype!r} is not uint8 or uint16"
        elif _table_top(self.zero_level, self.conversion_gain) > np.iinfo(self.encoded_dtype).max:
            top = _table_top(self.zero_level, self.conversion_gain)
            problem = f"codes up to {top:.0f} overflow {self.encoded_dtype}"
        elif np.dtype(self.decoded_dtype).kind not in "iu":
            problem = f"decoded_dtype {self.decoded_dtype!r} is not an integer type"
        if problem:
            raise InvalidOptionError(f"anscombe-v1 settings: {problem}")

    def codec(self) -> Any:
        """The zarr v3 codec object (``AnscombeTransformV3``)."""
        return codec_module().AnscombeTransformV3(
            zero_level=self.zero_level,
            conversion_gain=self.conversion_gain,
            encoded_dtype=self.encoded_dtype,
            decoded_dtype=self.decoded_dtype,
        )

    def to_dict(self) -> dict[str, Any]:
        """The description kept in the row and the array's attributes (the codec entry is authoritative)."""
        return {
            "name": CODEC_NAME,
            "zero_level": self.zero_level,
            "conversion_gain": self.conversion_gain,
            "encoded_dtype": self.encoded_dtype,
            "beta": BETA,
        }

    @classmethod
    def from_codec_entry(cls, entry: Any, *, where: str) -> CodecSettings:
        """Read the ``anscombe-v1`` entry of a ``zarr.json`` codec list;
        :class:`CorruptMetadataError` if bad."""
        try:
            config = entry["configuration"]
            return cls(
                zero_level=config["zero_level"],
                conversion_gain=float(config["conversion_gain"]),
                encoded_dtype=config.get("encoded_dtype", "uint8"),
                decoded_dtype=config.get("decoded_dtype", "int16"),
            )
        except (KeyError, TypeError, ValueError) as exc:  # InvalidOptionError is a ValueError
            raise CorruptMetadataError(where, f"bad {CODEC_NAME} codec entry {entry!r} ({exc})") from exc


def choose_settings(*, sensitivity: float, zero_level: float, decoded_dtype: str) -> CodecSettings:
    """Codec settings for a movie of ``sensitivity`` units per photon and ``zero_level`` (see module docs).

    Raises
    ------
    InvalidOptionError
        ``zero_level`` is outside the codec's 0..32767, or the table does not fit ``uint16``.
    """
    if not math.isfinite(zero_level) or not -0.5 <= zero_level <= INPUT_MAX:
        raise InvalidOptionError(
            f"zero_level {zero_level} is outside 0..{INPUT_MAX}, the readings anscombe-v1 stores; offset the "
            "movie or store it with <zarr@store>"
        )
    zero = max(0, round(zero_level))
    gain = max(float(sensitivity), MIN_GAIN * (1 + 1e-9))
    code = round(zero * MIN_GAIN / gain)
    if code > 0:  # zero_level in the middle of its code's readings; never below MIN_GAIN since code <= zero
        gain = max(zero * MIN_GAIN / code, MIN_GAIN * (1 + 1e-9))
    top = _table_top(zero, gain)
    encoded = "uint8" if top <= 255 else "uint16"
    if top > 65535:
        raise InvalidOptionError(
            f"a zero level of {zero} at {gain:.4g} units per photon needs codes up to {top:.0f}, more than "
            "anscombe-v1 can store; store this movie with <zarr@store>"
        )
    return CodecSettings(
        zero_level=zero, conversion_gain=gain, encoded_dtype=encoded, decoded_dtype=decoded_dtype
    )


def to_readings(block: Any, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
    """``block`` as readings of ``dtype`` for the codec: whole numbers from 0 to 32767 (floats are rounded).

    Raises
    ------
    InvalidOptionError
        NaN or infinite values, or readings outside 0..32767, which the codec would clamp silently.
    """
    x = np.asarray(block)
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise InvalidOptionError("the movie contains NaN or infinite values, which are not photon counts")
        x = np.rint(x)
    if x.size:
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > INPUT_MAX:
            raise InvalidOptionError(
                f"the movie has readings from {low:g} to {high:g}; <photon> (anscombe-v1) stores readings "
                f"from 0 to {INPUT_MAX} and would clamp the others: offset or rescale the movie, or store it "
                "with <zarr@store>"
            )
    return x.astype(dtype, copy=False)
