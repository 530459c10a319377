"""Request bodies from bytes to a validated model, bounded in time and memory (no FastAPI here, so that the
decoder processes of :mod:`service.bodies` import little).

A body is decoded (``fmt`` ``"json"`` or ``"msgpack"``), its structure checked (:func:`check_structure`), then
validated with its request model. Every failure is a problem, never a 500:

* 400 (:func:`service.errors.malformed`): bytes that do not decode, nesting deeper than :data:`MAX_DEPTH` levels
  (JSON's own recursion limit included), a JSON integer of more than ``sys.get_int_max_str_digits()`` digits;
* 422 (:class:`InvalidInput`, listed by ``problems.invalid_input``, which caps the list): an object with more than
  :data:`MAX_MEMBERS` members (no object of the contract has more than a dozen; refused before pydantic would list
  one error per unknown key), and whatever the model refuses.

*Sparse* decoding is what the API process does itself, for msgpack: a reader that takes one Python step per value
(:class:`_SparseReader`) refuses a body with more than :data:`SPARSE_VALUES` values (list items plus object members)
with :class:`Dense` as soon as a container's header says so, before anything is built, and hands out binary data
as views of the body, so no single step holds the GIL for long, however large the body. A body of binary arrays
(the contract's ``{dtype, shape, data}`` maps) holds a few dozen values whatever its size. JSON has no such reader:
a sparse decode of JSON counts after ``json.loads``, which is only ever asked of bodies of a few tens of KiB. Dense
bodies are decoded and validated in a decoder process (:func:`parse_in_child`), with ``json`` and ``msgpack``.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import time
from typing import Any, Literal, TypeVar

import msgpack
from pydantic import BaseModel, ValidationError

from service.contract import arrays, problems
from service.contract.validation import BODY, InvalidInput, Loc, errors_from_pydantic
from service.errors import ProblemError, malformed

Format = Literal["json", "msgpack"]
M = TypeVar("M", bound=BaseModel)

#: Deepest nesting of a body (the contract needs about a dozen levels: an 8-D array inside a linear object).
MAX_DEPTH = 32
#: Most members of one object (map) of a body.
MAX_MEMBERS = 64
#: Most values (list items plus object members) of a body decoded in the API process.
SPARSE_VALUES = 4096
#: Values of a validated body as a decoder process writes it back (its lists are bounded by the models).
DUMP_VALUES = 1 << 20
#: Longest string of a body decoded in the API process (the contract's strings are names and ids).
MAX_STRING_BYTES = 64 * 1024

_LENGTH_LIMIT = re.compile(r"^(\d+) exceeds max_(map|array)_len")
_EXTRA = "the body is not valid msgpack (extra bytes after the first value)"
_TRUNCATED = "the body is not valid msgpack (truncated)"


class Dense(Exception):
    """The body holds more values than its budget (or a long string): it is for a decoder process, not the API."""


# --------------------------------------------------------------------------------------------------- decoding
def decode(raw: bytes | bytearray, fmt: Format, budget: int | None = None) -> Any:
    """The decoded body; raises ``ProblemError`` (400), :class:`InvalidInput` (422: an object with too many
    members) or :class:`Dense`. ``budget``: decode msgpack sparsely (:class:`_SparseReader`), refusing more than
    ``budget`` values (JSON is counted by :func:`validate`); None: with msgpack's own decoder, in a decoder
    process."""
    if not raw:
        raise malformed("the request body is empty")
    return _decode_json(raw) if fmt == "json" else _decode_msgpack(raw, budget)


def _too_deep() -> Exception:
    return malformed(f"the body nests too deeply (no request of this API nests more than {MAX_DEPTH} levels)")


def _decode_json(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise malformed(f"the body is not valid JSON ({exc})") from None
    except ValueError as exc:  # int(): more digits than sys.get_int_max_str_digits()
        digits = re.search(r"limit \((\d+) digits\)", str(exc))
        bound = f"more than {digits[1]} digits" if digits else "too many digits"
        raise malformed(f"the body holds an integer of {bound}; numbers must fit a float64") from None


def _decode_msgpack(raw: bytes | bytearray, budget: int | None) -> Any:
    try:
        if budget is not None:
            return _unpack_sparse(raw, budget)
        return msgpack.unpackb(raw, raw=False, strict_map_key=True, max_map_len=MAX_MEMBERS)
    except (Dense, InvalidInput, ProblemError):
        raise
    except msgpack.StackError:
        raise _too_deep() from None
    except msgpack.ExtraData:
        raise malformed(_EXTRA) from None
    except ValueError as exc:  # corrupt or incomplete data, non-string keys, and the length limits
        if "incomplete input" in str(exc):
            raise malformed(_TRUNCATED) from None
        limit = _LENGTH_LIMIT.match(str(exc))
        if limit and limit[2] == "map":
            raise InvalidInput([(BODY, _too_many_members(int(limit[1])))]) from None
        if limit:
            raise Dense from None
        raise malformed(f"the body is not valid msgpack ({str(exc)[:200]})") from None
    except Exception as exc:  # msgpack raises several unrelated types for corrupt or truncated input
        raise malformed(f"the body is not valid msgpack (truncated or corrupt: {type(exc).__name__})") from None


class _SparseReader:
    """msgpack (the spec's formats, read with ``struct``) for sparse bodies, where the API may afford one Python step
    per value: each container is counted before it is built (:class:`Dense` past ``budget`` values or for a string
    over :data:`MAX_STRING_BYTES`; 422 for a map over :data:`MAX_MEMBERS` members, naming it), and
    ``bin`` values are read-only ``memoryview`` slices of the body, never copies: a 200 MB array costs the GIL
    nothing to decode and the API no second copy (its numpy array is a view of the body)."""

    def __init__(self, raw: bytes | bytearray, budget: int):
        self.buf = memoryview(raw).toreadonly()
        self.pos = 0
        self.values = 0
        self.budget = budget

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise malformed(_TRUNCATED)
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def _unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _count(self, n: int) -> None:
        self.values += n
        if self.values > self.budget or n > len(self.buf) - self.pos:  # each value takes at least one byte
            raise Dense if self.values > self.budget else malformed(_TRUNCATED)

    def read(self, loc: Loc = BODY) -> Any:
        """The value at the current position; ``loc`` names it in errors."""
        if len(loc) > MAX_DEPTH:
            raise _too_deep()
        b = self._take(1)[0]
        if b <= 0x7F or b >= 0xE0:
            return b if b <= 0x7F else b - 0x100
        if b <= 0x8F:
            return self._map(b & 0x0F, loc)
        if b <= 0x9F:
            return self._array(b & 0x0F, loc)
        if b <= 0xBF:
            return self._str(b & 0x1F)
        if b in _CONSTANTS:
            return _CONSTANTS[b]
        if b in _NUMBERS:
            return self._unpack(_NUMBERS[b])
        kind, length = _SIZED.get(b, (None, ""))
        if kind is None:
            raise malformed("the body is not valid msgpack for this API (extension types, or the unused byte 0xc1)")
        n = self._unpack(length)
        if kind == "bin":
            return self._take(n)
        return {"str": self._str, "array": self._array, "map": self._map}[kind](n, loc)

    def _str(self, n: int, loc: Loc = BODY) -> str:
        if n > MAX_STRING_BYTES:
            raise Dense
        try:
            return str(self._take(n), "utf-8")
        except UnicodeDecodeError:
            raise malformed("the body is not valid msgpack (a string is not UTF-8)") from None

    def _array(self, n: int, loc: Loc) -> list[Any]:
        self._count(n)
        return [self.read((*loc, i)) for i in range(n)]

    def _map(self, n: int, loc: Loc) -> dict[str, Any]:
        if n > MAX_MEMBERS:
            raise InvalidInput([(loc, _too_many_members(n))])
        self._count(n)
        out = {}
        for _ in range(n):
            key = self.read(loc)
            if not isinstance(key, str):
                raise malformed("the body is not valid for this API (msgpack map keys must be strings)")
            out[key] = self.read((*loc, key))
        return out


def _unpack_sparse(raw: bytes | bytearray, budget: int) -> Any:
    reader = _SparseReader(raw, budget)
    value = reader.read()
    if reader.pos != len(raw):
        raise malformed(_EXTRA)
    return value


_CONSTANTS = {0xC0: None, 0xC2: False, 0xC3: True}
_NUMBERS = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h",
            0xD2: ">i", 0xD3: ">q"}
_SIZED = {0xC4: ("bin", ">B"), 0xC5: ("bin", ">H"), 0xC6: ("bin", ">I"), 0xD9: ("str", ">B"), 0xDA: ("str", ">H"),
          0xDB: ("str", ">I"), 0xDC: ("array", ">H"), 0xDD: ("array", ">I"), 0xDE: ("map", ">H"), 0xDF: ("map", ">I")}


# --------------------------------------------------------------------------------------------------- checks
def _too_many_members(n: int, keys: list[Any] | None = None) -> str:
    first = f" (the first: {', '.join(repr(k)[:40] for k in keys)}, ...)" if keys else ""
    return f"has {n} members; no object of this API has more than {MAX_MEMBERS}{first}"


def check_structure(value: Any) -> int:
    """Walk a decoded body (iteratively: any depth the decoder allowed is safe) and return its number of values
    (list items plus object members). Raises 400 past :data:`MAX_DEPTH` levels and :class:`InvalidInput` for an
    object of more than :data:`MAX_MEMBERS` members, naming it."""
    values = 0
    stack: list[tuple[Any, Loc]] = [(value, BODY)]
    while stack:
        node, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            raise _too_deep()
        if isinstance(node, dict):
            if len(node) > MAX_MEMBERS:
                keys = [k for k, _ in zip(node, range(5), strict=False)]
                raise InvalidInput([(loc, _too_many_members(len(node), keys))])
            items: Any = node.items()
        else:
            items = enumerate(node)
        values += len(node)
        stack.extend((v, (*loc, k)) for k, v in items if isinstance(v, (dict, list)))
    return values


def validate(model: type[M], value: Any, budget: int | None = None) -> M:
    """Check the structure of a decoded body, then validate it with ``model``; errors become :class:`InvalidInput`
    with ``body`` locations. ``budget``: raise :class:`Dense` for more values than that."""
    if not isinstance(value, dict):
        raise InvalidInput([(BODY, "the body must be an object (a JSON object or a msgpack map)")])
    values = check_structure(value)
    if budget is not None and values > budget:
        raise Dense
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidInput(errors_from_pydantic(exc)) from None


def parse(raw: bytes | bytearray, fmt: Format, model: type[M], budget: int | None = None) -> M:
    """Decode, check and validate ``raw`` as ``model`` (what each step raises, above)."""
    return validate(model, decode(raw, fmt, budget), budget)


def exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Initializer of a decoder process: a thread that ends the process once the API process is gone (killed, so
    it could not stop its decoders), which nothing else would: a decoder waits on a queue it holds both ends of."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def parse_in_child(body_path: str, out_path: str, fmt: Format, model: type[BaseModel]) -> tuple[str, Any]:
    """A decoder process's job: decode and validate the body in the file ``body_path``, then write the validated
    body to the existing file ``out_path`` as binary msgpack (``model_dump()``, arrays as ``{dtype, shape, data}``
    maps) and answer ``("ok", None)``, or answer ``("problem", body)`` with the problem details (422 capped).

    Files, not the pipes of the process pool: pickling a body or its arrays would copy them while holding the API's
    GIL; the API reads the answer back with :data:`DUMP_VALUES` as its budget, as views of the bytes it read.
    """
    with open(body_path, "rb") as f:
        raw = f.read()
    try:
        dump = parse(raw, fmt, model).model_dump()
    except ProblemError as exc:
        return "problem", exc.body
    except InvalidInput as exc:
        return "problem", problems.invalid_input(exc.errors)
    with open(out_path, "r+b") as f:  # never creates it: a file the API gave up on stays gone
        f.write(msgpack.packb(dump, default=arrays.msgpack_default, use_bin_type=True))
    return "ok", None
