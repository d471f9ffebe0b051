"""The registry of portals (``sadec_crawler/portals.yml``): which sites of the province's one
Liferay system a crawl may archive, and what is known of each.

Data, not code: an operator adds a portal by adding an entry. A crawl names the portals it
archives with ``-a portals=sadec,sadec-p1`` or a group (``-a portals=sadec-all``); without it,
``scrapy crawl sadec`` archives ``SADEC_BASE_URL`` (the city portal by default) as it always did.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

PORTALS_FILE = Path(__file__).with_name("portals.yml")
LEVELS = ("province", "city", "district", "town", "ward", "commune")


@dataclass(frozen=True)
class Portal:
    """One portal, as ``portals.yml`` describes it."""

    key: str
    """Short name: ``sadec``, ``sadec-p1`` … (``articles.portal``, ``crawl_runs.portal``)."""
    base_url: str
    """``https://host`` or ``https://host/web/<site>`` (no trailing slash)."""
    unit: str
    """The unit whose portal it is, e.g. ``Thành phố Sa Đéc``."""
    level: str
    """One of :data:`LEVELS`."""
    parent: str | None = None
    """Key of the portal of the unit above, when registered."""
    group_id: int | None = None
    """Liferay group id (the number in its ``/documents/<groupId>/`` URLs); None if not seen."""
    category_prefix: str | None = None
    """Prefix of its category labels (``SD_``); None if not seen."""
    active_from: str | None = None
    """ISO date from which the portal served, when known."""
    active_to: str | None = None
    """ISO date until which it did, when known."""
    successors: tuple[str, ...] = ()
    """Units that took over its area (by name)."""
    successors_verified: bool = False
    default: bool = False
    """Crawled by ``-a portals=default``."""
    verified: bool = False
    """True only when pages of the portal were seen; False when it is only listed somewhere."""
    source: str = ""
    """Where the entry comes from."""

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def path_prefix(self) -> str:
        """``/web/<site>`` for a site served under a path of a shared host, else ``""``."""
        return urlsplit(self.base_url).path.rstrip("/")

    def owns(self, url: str) -> bool:
        """Whether ``url`` is on this portal: its host and, when it has one, its path prefix."""
        parts = urlsplit(url)
        if (parts.hostname or "").lower().removeprefix("www.") != self.host.removeprefix("www."):
            return False
        prefix = self.path_prefix
        return not prefix or parts.path == prefix or parts.path.startswith(prefix + "/")


@dataclass(frozen=True)
class PortalRegistry:
    """Every registered portal, and the groups that name several."""

    portals: tuple[Portal, ...]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, key: str) -> Portal:
        for portal in self.portals:
            if portal.key == key:
                return portal
        raise KeyError(key)

    def resolve(self, names: str) -> list[Portal]:
        """``sadec,sadec-p1`` or a group (``sadec-all``) as portals, in order, each once;
        ``ValueError`` naming what is unknown."""
        wanted: list[str] = []
        for name in filter(None, (part.strip() for part in names.split(","))):
            for key in self.groups.get(name, (name,)):
                if key not in wanted:
                    wanted.append(key)
        known = {portal.key for portal in self.portals}
        unknown = [key for key in wanted if key not in known]
        if unknown:
            raise ValueError(
                f"-a portals: unknown portal {unknown[0]!r}; registered: "
                f"{', '.join(sorted(known))}; groups: {', '.join(sorted(self.groups))}"
            )
        if not wanted:
            raise ValueError("-a portals= names no portal")
        return [self.get(key) for key in wanted]

    def for_url(self, url: str) -> Portal | None:
        """The registered portal a URL is on; the longest path prefix wins (a
        ``/web/<site>`` portal over its host's own)."""
        owners = [portal for portal in self.portals if portal.owns(url)]
        return max(owners, key=lambda p: len(p.path_prefix), default=None)

    def for_group(self, group_id: int) -> Portal | None:
        return next((p for p in self.portals if p.group_id == group_id), None)


DOCUMENTS_GROUP = re.compile(r"/documents/(\d+)/")
"""Liferay's document library URLs name the site (group) that holds the file."""


def document_group_ids(urls) -> list[int]:
    """The group ids of ``/documents/<groupId>/…`` URLs, most frequent first (ties in order of
    appearance): the site an article's images and attachments belong to is the site that
    wrote it, wherever it is shown."""
    found: dict[int, int] = {}
    for url in urls:
        match = DOCUMENTS_GROUP.search(urlsplit(url or "").path)
        if match:
            group = int(match[1])
            found[group] = found.get(group, 0) + 1
    return sorted(found, key=lambda group: -found[group])


def load_registry(path: Path = PORTALS_FILE) -> PortalRegistry:
    """Read and check a registry file; ``ValueError`` with the entry at fault."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not isinstance(data.get("portals"), list):
        raise ValueError(f"{path.name}: expected a mapping with a 'portals:' list")
    portals = []
    for index, entry in enumerate(data["portals"]):
        if not isinstance(entry, dict):
            raise ValueError(f"{path.name}: portal {index + 1} is not a mapping")
        where = f"{path.name}: portal {entry.get('key') or index + 1}"
        try:
            portal = Portal(
                **{
                    **entry,
                    "successors": tuple(entry.get("successors") or ()),
                    "group_id": int(entry["group_id"]) if entry.get("group_id") else None,
                }
            )
        except TypeError as error:
            raise ValueError(f"{where}: {error}") from None
        parts = urlsplit(portal.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(
                f"{where}: base_url {portal.base_url!r} is not http(s)://host[/web/site]"
            )
        if portal.path_prefix and not portal.path_prefix.startswith("/web/"):
            raise ValueError(f"{where}: a path in base_url must be /web/<site>")
        if portal.level not in LEVELS:
            raise ValueError(f"{where}: level {portal.level!r} is not one of {', '.join(LEVELS)}")
        portals.append(portal)
    keys = [portal.key for portal in portals]
    duplicated = {key for key in keys if keys.count(key) > 1}
    if duplicated:
        raise ValueError(f"{path.name}: portal {sorted(duplicated)[0]!r} registered twice")
    for portal in portals:
        if portal.parent and portal.parent not in keys:
            raise ValueError(f"{path.name}: portal {portal.key}: parent {portal.parent!r} unknown")
    groups = {name: tuple(members) for name, members in (data.get("groups") or {}).items()}
    for name, members in groups.items():
        missing = [key for key in members if key not in keys]
        if missing or name in keys:
            raise ValueError(f"{path.name}: group {name!r} names {missing or name!r}")
    return PortalRegistry(tuple(portals), groups)


@functools.cache
def default_registry() -> PortalRegistry:
    return load_registry()


def registry_for(settings) -> PortalRegistry:
    """``SADEC_PORTALS_FILE`` when set (an operator's own list, with the group ids of the
    portals it has seen), else the registry shipped with the crawler."""
    path = settings.get("SADEC_PORTALS_FILE") if settings is not None else None
    return load_registry(Path(path)) if path else default_registry()
