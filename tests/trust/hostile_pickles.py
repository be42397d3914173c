"""Hostile pickles, built in memory (a few hundred bytes each), and what a restricted load must answer.

Each case names the outcome expected from a restricted load with zarrbridge's default allow-list (plain data
and numpy): ``"unsafe"`` (:class:`UnsafePickleError`), ``"limit"`` (:class:`ResourceLimitError`),
``"corrupt"`` (:class:`CorruptMetadataError`) or ``"refused"`` (any of the three). Without the guards, the
``crash`` cases kill an ordinary ``pickle.loads`` with SIGSEGV and the ``limit`` cases allocate gigabytes.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy._core.multiarray import _reconstruct, scalar
from numpy._core.numeric import _frombuffer

GIB = 2**30


class Reduces:
    """Pickles as the given ``__reduce__`` value (callable, args[, state])."""

    def __init__(self, *value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, ...]:
        return self.value


@dataclass(frozen=True)
class Case:
    name: str
    payload: bytes
    outcome: str  # unsafe | limit | corrupt | refused
    crash: bool = False  # kills plain pickle.loads with SIGSEGV
    numpy_only: bool = False  # uses only numpy globals (so a legacy chunk gives the same answer)
    legacy: str | None = None  # the outcome in a legacy chunk (numpy globals only), when it differs

    @property
    def legacy_outcome(self) -> str:
        return self.legacy or self.outcome


def dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=5)


# ------------------------------------------------------------------------------------------ raw opcodes
def op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def op_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def op_long(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def op_bytes(raw: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(raw)) + raw


PROTO2 = b"\x80\x02"
PROTO5 = b"\x80\x05"
MARK, TUPLE, TUPLE1, TUPLE2, TUPLE3, REDUCE, BUILD, STOP = (
    b"(",
    b"t",
    b"\x85",
    b"\x86",
    b"\x87",
    b"R",
    b"b",
    b".",
)
NONE, FALSE, TRUE, EMPTY_DICT, SETITEM = b"N", b"\x89", b"\x88", b"}", b"s"


def put(i: int) -> bytes:
    return b"q" + bytes([i])


def get(i: int) -> bytes:
    return b"h" + bytes([i])


def dtype_call(spec: str, copy: bool = True) -> bytes:
    return op_global("numpy", "dtype") + op_str(spec) + FALSE + (TRUE if copy else FALSE) + TUPLE3 + REDUCE


def simple_state(endian: str = "|", flags: int = 0, elsize: int = -1) -> bytes:
    return (
        MARK
        + op_int(3)
        + op_str(endian)
        + NONE
        + NONE
        + NONE
        + op_int(elsize)
        + op_int(-1)
        + op_int(flags)
        + TUPLE
    )


def object_field_state(flags: int) -> bytes:
    """The state of ``[("a", object)]`` on a V8 dtype, with the given flags (numpy's own: 27)."""
    fields = (
        EMPTY_DICT
        + op_str("a")
        + dtype_call("O8")
        + simple_state(flags=63)
        + BUILD
        + op_int(0)
        + TUPLE2
        + SETITEM
    )
    return (
        MARK + op_int(3) + op_str("|") + NONE + op_str("a") + TUPLE1 + fields
        + op_int(8) + op_int(1) + op_int(flags) + TUPLE
    )  # fmt: skip


def reconstruct_call(shape: bytes = op_int(0) + TUPLE1) -> bytes:
    return (
        op_global("numpy._core.multiarray", "_reconstruct") + op_global("numpy", "ndarray") + shape
        + op_bytes(b"b") + TUPLE3 + REDUCE
    )  # fmt: skip


def array_state(shape: bytes, dtype: bytes, data: bytes) -> bytes:
    return MARK + op_int(1) + shape + dtype + FALSE + data + TUPLE


# ------------------------------------------------------------------------------------------ the cases
def _lying_dtype() -> Reduces:
    """A V8 dtype whose state adds an object field but claims flags 0 ("holds no objects")."""
    return Reduces(np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0))


def cases() -> list[Case]:
    pointer_bytes = b"\x41" * 16  # two "pointers" to 0x4141414141414141
    lying = _lying_dtype()
    out = [
        Case(
            "object dtype over raw bytes",
            dumps(
                Reduces(
                    _reconstruct, (np.ndarray, (0,), b"b"), (1, (2,), np.dtype("O"), False, pointer_bytes)
                )
            ),
            "unsafe",
            numpy_only=True,
        ),
        Case(
            "lying dtype flags: array over raw bytes",
            dumps(Reduces(_reconstruct, (np.ndarray, (0,), b"b"), (1, (2,), lying, False, pointer_bytes))),
            "unsafe",
            crash=True,
            numpy_only=True,
        ),
        Case(
            "lying dtype flags: _frombuffer",
            dumps(Reduces(_frombuffer, (bytearray(pointer_bytes), lying, (2,), "C"))),
            "unsafe",
            crash=True,
            numpy_only=True,
        ),
        Case(
            "lying dtype flags: scalar",
            dumps(Reduces(scalar, (lying, pointer_bytes[:8]))),
            "unsafe",
            crash=True,
            numpy_only=True,
        ),
        Case(
            "structured scalar with an object field over raw bytes",
            dumps(Reduces(scalar, (np.dtype([("a", "O")]), pointer_bytes[:8]))),
            "unsafe",
            numpy_only=True,
        ),
        Case(
            "overlapping object fields",
            dumps(
                Reduces(
                    np.dtype,
                    ("V8", False, True),
                    (
                        3,
                        "|",
                        None,
                        ("a", "b"),
                        {"a": (np.dtype("O"), 0), "b": (np.dtype("<i8"), 0)},
                        8,
                        1,
                        27,
                    ),
                )
            ),
            "unsafe",
            numpy_only=True,
        ),
        Case(
            "dtype state applied after an array uses the dtype",
            PROTO2
            + dtype_call("V8")
            + put(0)
            + simple_state(elsize=8)
            + BUILD
            + reconstruct_call()
            + array_state(op_int(2) + TUPLE1, get(0), op_bytes(pointer_bytes))
            + BUILD
            + get(0)
            + object_field_state(27)
            + BUILD
            + TUPLE2
            + STOP,
            "unsafe",
            numpy_only=True,
        ),  # fmt: skip
        Case(
            "numpy.ndarray called with a buffer",
            PROTO2
            + op_global("numpy", "ndarray")
            + op_int(2)
            + TUPLE1
            + dtype_call("O8")
            + op_bytes(pointer_bytes)
            + TUPLE3
            + REDUCE
            + STOP,
            "unsafe",
            numpy_only=True,
        ),  # fmt: skip
        Case(
            "numpy.ndarray through NEWOBJ",
            PROTO2
            + op_global("numpy", "ndarray")
            + op_int(2)
            + TUPLE1
            + dtype_call("O8")
            + op_bytes(pointer_bytes)
            + TUPLE3
            + b"\x81"
            + STOP,
            "refused",
            numpy_only=True,
        ),  # fmt: skip
        Case(
            "_reconstruct of another class",
            PROTO2
            + op_global("numpy._core.multiarray", "_reconstruct")
            + op_global("numpy", "dtype")
            + op_int(0)
            + TUPLE1
            + op_bytes(b"b")
            + TUPLE3
            + REDUCE
            + STOP,
            "unsafe",
            numpy_only=True,
        ),  # fmt: skip
        Case(
            "_reconstruct with a giant shape",
            PROTO2 + reconstruct_call(op_long(2**40) + TUPLE1) + STOP,
            "limit",
            numpy_only=True,
        ),
        Case(
            "array state with a giant shape",
            dumps(Reduces(_reconstruct, (np.ndarray, (0,), b"b"), (1, (2**40,), np.dtype("u1"), False, b""))),
            "limit",
            numpy_only=True,
        ),
        Case(
            "object array state with a giant shape",
            dumps(Reduces(_reconstruct, (np.ndarray, (0,), b"b"), (1, (2**37,), np.dtype("O"), False, [1]))),
            "limit",
            numpy_only=True,
        ),
        Case(
            "shape whose product overflows 64 bits",
            dumps(
                Reduces(
                    _reconstruct, (np.ndarray, (0,), b"b"), (1, (2**32, 2**32), np.dtype("u1"), False, b"")
                )
            ),
            "limit",
            numpy_only=True,
        ),
        Case(
            "giant subarray dtype",
            dumps(
                Reduces(
                    _reconstruct, (np.ndarray, (0,), b"b"), (1, (4,), np.dtype(("f8", (2**27,))), False, b"")
                )
            ),
            "limit",
            numpy_only=True,
        ),
        Case(
            "_frombuffer claiming more than its buffer",
            dumps(Reduces(_frombuffer, (bytearray(8), np.dtype("u1"), (2**40,), "C"))),
            "corrupt",
            numpy_only=True,
        ),
        Case(
            "dtype state on numpy's shared singleton (copy=False)",
            PROTO2 + dtype_call("O8", copy=False) + simple_state(flags=0) + BUILD + STOP,
            "ok",
            numpy_only=True,
            legacy="corrupt",  # a legacy chunk must hold an array
        ),
        Case("bytearray(3e9)", dumps(Reduces(bytearray, (3 * 10**9,))), "limit", legacy="unsafe"),
        Case("list(range(10**9))", dumps(Reduces(list, (range(10**9),))), "limit", legacy="unsafe"),
        Case("tuple(range(10**9))", dumps(Reduces(tuple, (range(10**9),))), "limit", legacy="unsafe"),
        Case("frozenset(range(10**9))", dumps(Reduces(frozenset, (range(10**9),))), "limit", legacy="unsafe"),
        Case("bytearray(range(10**9))", dumps(Reduces(bytearray, (range(10**9),))), "limit", legacy="unsafe"),
        Case("list(range(10**30))", dumps(Reduces(list, (range(10**30),))), "limit", legacy="unsafe"),
        Case(
            "bytearray(40e6) ten times through the memo",
            PROTO2
            + op_global("builtins", "bytearray")
            + put(0)
            + op_int(40 * 10**6)
            + TUPLE1
            + put(1)
            + REDUCE
            + b"0"
            + (get(0) + get(1) + REDUCE + b"0") * 10
            + NONE
            + STOP,
            "limit",
            legacy="unsafe",
        ),  # fmt: skip
        Case(
            "BYTEARRAY8 declaring 3 GB",
            PROTO5 + b"\x96" + struct.pack("<Q", 3 * 10**9) + b"x" * 16 + STOP,
            "corrupt",
        ),
        Case(
            "BINBYTES8 declaring 2**40 bytes",
            PROTO5 + b"\x8e" + struct.pack("<Q", 2**40) + b"x" * 16 + STOP,
            "corrupt",
        ),
        Case(
            "BINUNICODE8 declaring 2**40 bytes",
            PROTO5 + b"\x8d" + struct.pack("<Q", 2**40) + b"x" * 16 + STOP,
            "corrupt",
        ),
        Case(
            "FRAME declaring 2**40 bytes",
            PROTO5 + b"\x95" + struct.pack("<Q", 2**40) + NONE + STOP,
            "corrupt",
        ),
        Case(
            "codecs.encode with a compressing codec",
            PROTO2
            + op_global("codecs", "encode")
            + op_str("x" * 10)
            + op_str("zlib")
            + TUPLE2
            + REDUCE
            + STOP,
            "unsafe",
            numpy_only=True,  # refused in both
        ),
        Case("copyreg extension code", PROTO2 + b"\x82\x01" + STOP, "unsafe"),
        Case(
            "BUILD changing a guard's defaults",
            PROTO2
            + op_global("builtins", "list")
            + NONE
            + EMPTY_DICT
            + op_str("__defaults__")
            + MARK
            + TUPLE
            + SETITEM
            + TUPLE2
            + BUILD
            + STOP,
            "unsafe",
        ),  # fmt: skip
        Case(
            "os.system",
            PROTO2 + op_global("os", "system") + op_str("true") + TUPLE1 + REDUCE + STOP,
            "unsafe",
        ),
        Case(
            "builtins.getattr",
            PROTO2
            + op_global("builtins", "getattr")
            + op_global("builtins", "list")
            + op_str("__init__")
            + TUPLE2
            + REDUCE
            + STOP,
            "unsafe",
        ),  # fmt: skip
        Case("truncated pickle", dumps(np.arange(100))[:-20], "corrupt", numpy_only=True),
    ]
    return out


CASES = {case.name: case for case in cases()}
