"""String ids (``"id": "000123"``, as some exporters write) as the integer ids the tables hold.

pycocotools uses ids only as dict keys (``PythonAPI/pycocotools/coco.py::createIndex``), so a
string id works there as long as images, annotations and categories spell it alike, and the
string ``"1"`` and the number ``1`` are two different ids. This audit does the same: within one
file and one namespace (image ids with ``image_id``; category ids with ``category_id``;
annotation ids), each
distinct string becomes one integer. A string that spells an integer (``"000123"``) becomes that
integer when the file uses it for nothing else, so reports show a recognisable id; any other
string becomes a fresh integer above the file's largest id. A string that spells a number the
file also uses as a number is kept apart from it, as pycocotools does, and reported.

While a file is decoded, strings get provisional codes ``PROVISIONAL + k`` (first seen first);
:meth:`TextIds.settle` turns them into the final integers once every id of the file is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

PROVISIONAL = 1 << 62
"""Start of the provisional codes. A number id in ``[PROVISIONAL, PROVISIONAL + strings)`` in a
file that also has string ids would be read as a string's code: only crafted input does that,
and it then costs a wrong id, never a crash."""
_INTEGER = re.compile(r"-?[0-9]{1,18}")
NAMESPACES = ("image", "category", "annotation")


class TextIds:
    """The string ids of one file, by namespace, with where each was first seen."""

    def __init__(self, categories: dict[str, int] | None = None) -> None:
        self.categories = {} if categories is None else categories
        """Category string -> id, shared by the files of one dataset: their classes merge by id,
        so ``"car"`` must be one id in ``train`` and ``val``."""
        self.names: dict[str, dict[str, int]] = {ns: {} for ns in NAMESPACES}
        self.first: dict[tuple[str, str], str] = {}
        self.spelled: dict[str, dict[int, str]] = {ns: {} for ns in NAMESPACES}
        """Final id -> the string it was read from, by namespace (for messages)."""

    @property
    def count(self) -> int:
        return sum(len(t) for t in self.names.values())

    def code(self, value: str, ns: str, where: str) -> int:
        """The provisional code of one string id first seen (when new) at element ``where``."""
        table = self.names[ns]
        k = table.get(value)
        if k is None:
            k = table[value] = len(table)
            self.first[(ns, value)] = where
        return PROVISIONAL + k

    def codes(self, values: Iterable[object], ns: str, array: str, start: int, n: int) -> np.ndarray:
        """int64 ids of ``n`` values (ints as they are, strings as provisional codes); element
        ``i`` is ``{array}[{start + i}]`` in the file. Integers past int64 raise OverflowError."""
        table, out = self.names[ns], np.empty(n, np.int64)
        for i, value in enumerate(values):
            if isinstance(value, str):
                k = table.get(value)
                if k is None:
                    k = table[value] = len(table)
                    self.first[(ns, value)] = f"{array}[{start + i}]"
                out[i] = PROVISIONAL + k
            elif value is None:  # no annotation id: the caller marks it missing
                raise TypeError("no id")
            else:
                out[i] = value  # type: ignore[call-overload]
        return out

    def settle(self, arrays: dict[str, list[np.ndarray]]) -> list[tuple[str, str]]:
        """Replace provisional codes in ``arrays`` (namespace -> every id array of it; for
        categories the declared list last) in place by the final ids; returns ``(element,
        reason)`` for strings that clash with a number."""
        clashes: list[tuple[str, str]] = []
        for ns, table in self.names.items():
            if not table:
                continue
            columns, names, hi = arrays[ns], list(table), PROVISIONAL + len(table)
            numbers = [c[(c < PROVISIONAL) | (c >= hi)] for c in columns]
            taken = set(np.unique(np.concatenate(numbers)).tolist()) if numbers else set()
            shared = self.categories if ns == "category" else {}
            final, fresh = np.empty(len(table), np.int64), []
            for k in self._order(ns, columns, hi):
                name = names[k]
                value = int(name) if _INTEGER.fullmatch(name) else shared.get(name)
                if value is not None and value not in taken:
                    final[k] = value
                    taken.add(value)
                    continue
                if value is not None and name not in shared:
                    clashes.append((self.first[(ns, name)], _clash(ns, name, value)))
                fresh.append(k)
            start = max(taken | set(shared.values()), default=-1) + 1
            if start + len(fresh) >= PROVISIONAL:  # ids near int64's end: number downwards instead
                start = min(min(taken, default=0), 0) - len(fresh)
            final[fresh] = np.arange(start, start + len(fresh), dtype=np.int64)
            if ns == "category":  # later files give these strings the same ids
                shared.update({names[k]: int(final[k]) for k in fresh if not _INTEGER.fullmatch(names[k])})
            self.spelled[ns] = dict(zip(final.tolist(), names, strict=True))
            for column in columns:
                provisional = (column >= PROVISIONAL) & (column < hi)
                column[provisional] = final[column[provisional] - PROVISIONAL]
        return clashes

    @staticmethod
    def _order(ns: str, columns: list[np.ndarray], hi: int) -> list[int]:
        """Provisional indices in numbering order: categories in the order the file declares
        them (so two files with one category list number it alike), then as first seen."""
        n = hi - PROVISIONAL
        declared = columns[-1].tolist() if ns == "category" and columns else []
        first = [c - PROVISIONAL for c in dict.fromkeys(declared) if PROVISIONAL <= c < hi]
        return first + sorted(set(range(n)) - set(first))

    def show(self, ns: str, value: object) -> str:
        """An id as a message shows it: the string the file wrote, or the number."""
        name = self.spelled[ns].get(value)  # type: ignore[call-overload]
        return str(value) if name is None else repr(name[:40])

    def note(self, rel: str) -> str:
        """The one note of a file with string ids."""
        kinds = [ns for ns in NAMESPACES if self.names[ns]]
        which = ", ".join(kinds[:-1]) + (" and " if len(kinds) > 1 else "") + kinds[-1]
        example = next(iter(self.names[kinds[0]]))[:40]
        return (
            f"{rel}: {which} ids are strings ({self.count:,} distinct, e.g. {example!r}); read as ids, "
            "as pycocotools does (a string spelling an integer is shown as that integer, others are "
            "numbered)."
        )


def _clash(ns: str, name: str, value: int) -> str:
    return (
        f"{ns} id {name[:40]!r} is a string that reads as {value}, which this file also uses as a "
        "number; pycocotools keeps the two apart, and so does this audit (what points at one "
        "does not reach the other)"
    )
