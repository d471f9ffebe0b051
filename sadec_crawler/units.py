"""The authority of unit names: the many ways a byline names an office, filed under one name.

The names and their aliases are data (``sadec_crawler/units.yml``); this module reads them and
matches a byline's unit against them (pure: text in, name out). The raw text is kept beside the
canonical name (``Article.unit_raw``), so nothing a page said is lost.

The same authority files each portal's unit (``portals.yml`` ``unit``: "Phường 1" is
"UBND phường 1"), and says which units took over from those that ended with the July 2025
merger (``successors``), and whether that was ever verified.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .textnorm import clean_inline, fold

UNITS_FILE = Path(__file__).with_name("units.yml")

# Endings that say which city, not which office ("Phòng Kinh tế thành phố Sa Đéc"), folded.
_CITY_SUFFIXES = ("thanh pho sa dec", "tp sa dec", "sa dec", "thanh pho", "tp")


@dataclass(frozen=True)
class Unit:
    """One office, as ``units.yml`` describes it."""

    name: str
    """The canonical name, as facets and charts show it."""
    level: str | None = None
    """``province``, ``city``, ``district``, ``town``, ``city office``, ``city unit``,
    ``party``, ``ward`` or ``commune``."""
    parent: str | None = None
    aliases: tuple[str, ...] = ()
    """Other names bylines use for it."""
    valid_from: str | None = None
    """ISO date from which the office existed under this name, when known."""
    valid_to: str | None = None
    """ISO date until which it did, when known."""
    successors: tuple[str, ...] = ()
    """Units (canonical names of this file) that took over its area or work when it ended."""
    successors_verified: bool = False
    """True only when ``successors`` were checked against an official source."""
    verified: bool = False
    """True only when the unit was seen named on a verified portal's pages; False when its
    name comes from a list or a host name."""
    source: str | None = None
    """Where the entry, or its successors, come from."""


def match_key(text: str) -> str:
    """What two spellings of one office have in common: folded, lower case, "&" as "và",
    hyphens and dots as spaces, the city's name at the end dropped."""
    key = fold(clean_inline(text)).casefold()
    key = key.replace("&", " va ")
    key = re.sub(r"[-–.,:;()/]+", " ", key)
    key = " ".join(key.split())
    changed = True
    while changed:
        changed = False
        for suffix in _CITY_SUFFIXES:
            if key.endswith(" " + suffix):
                key = key[: -len(suffix) - 1].rstrip()
                changed = True
    return key


@dataclass
class UnitAuthority:
    """The units of ``units.yml``, looked up by any of their names."""

    units: list[Unit] = field(default_factory=list)
    by_key: dict[str, Unit] = field(default_factory=dict)

    def canonical(self, raw: str | None) -> str | None:
        """The canonical name of the office ``raw`` names; an unknown name as written, with a
        capital first letter (a byline starting "phòng…" is the same office as "Phòng…")."""
        text = clean_inline(raw)
        if not text:
            return None
        unit = self.by_key.get(match_key(text))
        if unit is not None:
            return unit.name
        return text[0].upper() + text[1:]

    def knows(self, raw: str | None) -> bool:
        return bool(raw) and match_key(raw) in self.by_key

    def get(self, name: str) -> Unit | None:
        """The unit ``name`` (or any of its aliases) names, if the file has it."""
        return self.by_key.get(match_key(name)) if name else None

    def successors_of(self, name: str) -> tuple[tuple[str, ...], bool, str | None]:
        """``(successors, verified, via)`` of a unit: its own, or, for one that ended and names
        none (a city office, a ward of the city), those of the nearest unit above it that
        does, named in ``via``. Nothing for a unit still in being or whose successors are not
        known."""
        unit = self.get(name)
        via = None
        seen: set[str] = set()
        while unit is not None and unit.name not in seen:
            seen.add(unit.name)
            if unit.successors:
                return unit.successors, unit.successors_verified, via
            if not unit.valid_to or not unit.parent:
                break
            unit = self.get(unit.parent)
            via = unit.name if unit is not None else None
        return (), False, None


def _date(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return dt.date.fromisoformat(str(value)).isoformat()


def load_units(path: Path = UNITS_FILE) -> UnitAuthority:
    """Read ``units.yml``; raises ``ValueError`` naming the entry that is malformed or whose
    names collide with another's."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    authority = UnitAuthority()
    for number, entry in enumerate(data.get("units") or [], 1):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ValueError(f"{path.name}: entry {number} has no name")
        unit = Unit(
            name=clean_inline(entry["name"]),
            level=entry.get("level"),
            parent=entry.get("parent"),
            aliases=tuple(clean_inline(a) for a in entry.get("aliases") or ()),
            valid_from=_date(entry.get("valid_from")),
            valid_to=_date(entry.get("valid_to")),
            successors=tuple(clean_inline(name) for name in entry.get("successors") or ()),
            successors_verified=bool(entry.get("successors_verified", False)),
            verified=bool(entry.get("verified", False)),
            source=entry.get("source"),
        )
        authority.units.append(unit)
        for name in (unit.name, *unit.aliases):
            key = match_key(name)
            other = authority.by_key.get(key)
            if other is not None and other.name != unit.name:
                raise ValueError(
                    f"{path.name}: {name!r} of {unit.name!r} matches {other.name!r} too"
                )
            authority.by_key[key] = unit
    for unit in authority.units:
        for name in (*unit.successors, *filter(None, [unit.parent])):
            if match_key(name) not in authority.by_key:
                raise ValueError(
                    f"{path.name}: {unit.name!r} names {name!r}, not a unit of the file"
                )
    return authority


@functools.cache
def default_authority() -> UnitAuthority:
    """The units of the repository's ``units.yml`` (read once per process)."""
    return load_units()
