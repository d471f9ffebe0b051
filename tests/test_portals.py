"""Several portals of the province's Liferay system in one archive (issue 17): the registry
(``sadec_crawler/portals.yml``) and ``scrapy crawl sadec -a portals=…`` against one replica
server per portal, each portal's host mapped to its server with ``SADEC_HOST_MAP``."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from replica import ReplicaServer, Site
from replica.faults import FaultConfig
from sadec.local import run_crawl
from sadec_crawler.portals import PORTALS_FILE, default_registry, load_registry

REGISTRY = default_registry()
PHUONG_X = {
    "key": "phuong-x",
    "base_url": "https://dongthap.gov.vn/web/phuongx",
    "unit": "Phường X (replica)",
    "level": "ward",
    "parent": "dongthap",
    "group_id": 1_000_004,
}
"""A ward's site under a path of the province's host, as the replica mounts it."""


def shipped_registry() -> dict:
    """The registry file shipped with the crawler, as data to change in a test."""
    return yaml.safe_load(PORTALS_FILE.read_text(encoding="utf-8"))


def write_registry(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "portals.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# --- The registry --------------------------------------------------------------------------------
def test_the_city_portal_is_the_default_and_verified():
    city = REGISTRY.get("sadec")
    assert city.base_url == "https://sadec.dongthap.gov.vn" and city.group_id == 481527
    assert city.verified and city.default
    assert [p.key for p in REGISTRY.resolve("default")] == ["sadec"]


def test_portals_only_listed_somewhere_are_marked_unverified():
    for key in ("sadec-p1", "sadec-tankhanhdong", "laivung"):
        portal = REGISTRY.get(key)
        assert not portal.verified and portal.source
    assert not REGISTRY.get("sadec").successors_verified


def test_groups_expand_in_order_each_portal_once():
    keys = [p.key for p in REGISTRY.resolve("sadec,sadec-all,sadec-p1")]
    assert keys[0] == "sadec" and len(keys) == len(set(keys)) == 6
    assert all(REGISTRY.get(k).parent == "sadec" for k in keys[1:])


def test_an_unknown_portal_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown portal 'sadec-p9'.*sadec-p1"):
        REGISTRY.resolve("sadec,sadec-p9")


def test_urls_and_group_ids_find_their_portal():
    assert REGISTRY.for_url("https://p2.sadec.dongthap.gov.vn/tin-tuc").key == "sadec-p2"
    assert REGISTRY.for_url("https://example.org/") is None
    assert REGISTRY.for_group(34223).key == "dongthap"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": "county"}, "level 'county'"),
        ({"base_url": "ftp://x.vn"}, "is not http"),
        ({"base_url": "https://dongthap.gov.vn/tin-tuc"}, "must be /web/<site>"),
        ({"parent": "nowhere"}, "parent 'nowhere' unknown"),
        ({"colour": "red"}, "unexpected keyword"),
    ],
)
def test_a_bad_registry_entry_is_refused_with_its_key(tmp_path, change, message):
    data = shipped_registry()
    data["portals"][2].update(change)
    path = write_registry(tmp_path, data)
    with pytest.raises(ValueError, match=message):
        load_registry(path)


def test_a_path_prefix_confines_a_portal_to_its_site(tmp_path):
    data = shipped_registry()
    data["portals"].append(
        {
            "key": "phuong-sadec",
            "base_url": "https://dongthap.gov.vn/web/phuongsadec",
            "unit": "Phường Sa Đéc",
            "level": "ward",
            "parent": "dongthap",
        }
    )
    path = write_registry(tmp_path, data)
    registry = load_registry(path)
    ward = registry.get("phuong-sadec")
    assert ward.owns("https://dongthap.gov.vn/web/phuongsadec/tin-tuc")
    assert not ward.owns("https://dongthap.gov.vn/web/phuongsadecx/tin-tuc")
    assert not ward.owns("https://dongthap.gov.vn/tin-tuc")
    assert registry.for_url("https://dongthap.gov.vn/web/phuongsadec/").key == "phuong-sadec"
    assert registry.for_url("https://dongthap.gov.vn/tin-tuc").key == "dongthap"


# --- One crawl, several portals ------------------------------------------------------------------
WARDS = {
    "sadec": Site(seed=0),
    "sadec-p1": Site(seed=1, id_offset=100_000_000, group_id=1_000_001),
    "sadec-p2": Site(seed=2, id_offset=200_000_000, group_id=1_000_002),
}
"""Three portals with their own articles (asset ids from one counter) and file groups."""
BROKEN = "sadec-p2"
"""Answers 500 or 503 to every request for the whole run."""


@contextmanager
def serving_portals(servers: dict[str, ReplicaServer]):
    """Start one replica server per portal; yield the ``SADEC_HOST_MAP`` that sends each
    registered portal's host to its server; stop them all."""
    for server in servers.values():
        server.start()
    try:
        yield ",".join(
            f"{REGISTRY.get(key).base_url}={server.url.rstrip('/')}"
            for key, server in servers.items()
        )
    finally:
        for server in servers.values():
            server.stop()


def portals_crawl(db_path: Path, host_map: str, portals: str, **settings: str):
    """``scrapy crawl sadec -a portals=…`` with the registered hosts sent to replica servers
    (``host_map``, from :func:`serving_portals`); it must exit 0."""
    result = run_crawl(
        REGISTRY.get("sadec").base_url,
        db_path,
        settings={"SADEC_HOST_MAP": host_map, **settings},
        spider_args={"portals": portals},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def portals_showing(db_path: Path) -> dict[int, set[str]]:
    """Each archived article's asset id → the portals ``article_portals`` says showed it."""
    rows = query(
        db_path,
        "select a.asset_id, p.portal from article_portals p "
        "join articles a on a.url = p.article_url",
    )
    portals: dict[int, set[str]] = {}
    for row in rows:
        portals.setdefault(row["asset_id"], set()).add(row["portal"])
    return portals


def query(db_path: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def several(tmp_path_factory):
    servers = {
        key: ReplicaServer(site, FaultConfig(error_rate=1.0) if key == BROKEN else None)
        for key, site in WARDS.items()
    }
    with serving_portals(servers) as host_map:
        db_path = tmp_path_factory.mktemp("portals") / "archive.db"
        result = run_crawl(
            REGISTRY.get("sadec").base_url,
            db_path,
            settings={
                "SADEC_HOST_MAP": host_map,
                # The polite pace of each host, shortened: one request at a time per host.
                "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
                "DOWNLOAD_DELAY": "0.01",
                "RETRY_TIMES": "1",
                "SADEC_RETRY_BACKOFF": "0.05",
            },
            spider_args={"portals": ",".join(WARDS)},
            timeout=300,
        )
    return result, db_path, {key: list(server.requests) for key, server in servers.items()}


def test_each_working_portal_is_archived_whole_under_its_own_urls(several):
    _, db_path, _ = several
    stored = query(db_path, "select asset_id, url, portal, title from articles")
    for key in ("sadec", "sadec-p1"):
        truth = {t.asset_id: t for t in WARDS[key].truth()}
        mine = {row["asset_id"]: row for row in stored if row["portal"] == key}
        assert sorted(mine) == sorted(truth), key
        base = REGISTRY.get(key).base_url + "/"
        for asset_id, row in mine.items():
            assert row["url"].startswith(base) and row["title"] == truth[asset_id].title
    assert len(stored) == len({row["asset_id"] for row in stored}), "each article once"


def test_a_portal_down_for_the_whole_run_fails_only_its_own_part(several):
    result, db_path, _ = several
    assert result.returncode == 1, result.stderr[-3000:]
    failed = [line for line in result.stderr.splitlines() if "portal " in line and "failed" in line]
    assert len(failed) == 1 and f"portal {BROKEN} (" in failed[0], failed
    runs = {row["portal"]: row for row in query(db_path, "select * from crawl_runs")}
    assert sorted(runs) == sorted(WARDS)
    assert runs[BROKEN]["exit_status"] == 1 and runs[BROKEN]["articles_seen"] == 0
    for key in ("sadec", "sadec-p1"):
        assert runs[key]["exit_status"] == 0 and runs[key]["articles_new"] == len(
            WARDS[key].truth()
        )
        assert runs[key]["base_url"] == REGISTRY.get(key).base_url
    assert not query(db_path, "select * from articles where portal = ?", [BROKEN])


def test_one_request_at_a_time_per_host_while_hosts_overlap(several):
    _, _, requests = several
    spans = {}
    for key, log in requests.items():
        timed = sorted((r.started, r.finished) for r in log if r.finished)
        assert len(timed) >= 3, key
        for (_, end), (start, _) in zip(timed, timed[1:], strict=False):
            assert start >= end - 0.002, f"{key}: two requests at once"
        spans[key] = (timed[0][0], timed[-1][1])
    city, ward = spans["sadec"], spans["sadec-p1"]
    assert min(city[1], ward[1]) - max(city[0], ward[0]) > 0.5, "the hosts were crawled at once"


# --- The web archive, per portal -----------------------------------------------------------------
def wayback_crawl(archive, db_path: Path, portals: str, **settings: str):
    """``scrapy crawl sadec -a portals=… -a source=wayback`` against a replica of the web
    archive (files and WARC captures off)."""
    return run_crawl(
        REGISTRY.get("sadec").base_url,
        db_path,
        settings={
            "SADEC_WAYBACK_URL": archive.url.rstrip("/"),
            "SADEC_MAX_ERRORS": "1000",
            "SADEC_FILES_DIR": "off",
            "SADEC_WARC_DIR": "off",
            **settings,
        },
        spider_args={"portals": portals, "source": "wayback"},
        timeout=300,
    )


def test_wayback_per_portal_through_one_shared_gate(tmp_path):
    """Two portals' captures in one archive (as the Internet Archive holds them), read with
    ``-a portals=sadec,sadec-p1 -a source=wayback``: each portal's index queries name its own
    host, each article is archived under its portal, and the two crawlers share one pace
    towards the archive (which counts per address, not per portal): never over it, no 429."""
    from replica.wayback import WaybackReplica

    city = WaybackReplica(Site(seed=0))
    ward_site = Site(seed=1, id_offset=100_000_000, group_id=1_000_001)
    ward = WaybackReplica(ward_site, host=REGISTRY.get("sadec-p1").host)
    city.absorb(ward)
    city.rate_limits = {"cdx": (3, 1.0), "playback": (25, 1.0)}
    city.block_after = 1.0
    db_path = tmp_path / "archive.db"
    with city:
        result = wayback_crawl(
            city,
            db_path,
            "sadec,sadec-p1",
            CONCURRENT_REQUESTS_PER_DOMAIN="1",
            SADEC_WAYBACK_CDX_PER_MINUTE="120",
            SADEC_WAYBACK_PLAYBACK_PER_MINUTE="1200",
        )
        requests = [r for r in city.requests if r.kind in ("cdx", "playback")]
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [r for r in requests if r.status in (0, 429)] and not city.blocks
    for kind, per_second in (("cdx", 2), ("playback", 20)):
        times = [r.at for r in requests if r.kind == kind]
        most = max(sum(1 for t in times if at <= t < at + 1.0) for at in times)
        assert most <= per_second + 1, (kind, most)
    queried = {r.path.split("url=")[1].split("%2F")[0] for r in requests if r.kind == "cdx"}
    assert queried == {"sadec.dongthap.gov.vn", "p1.sadec.dongthap.gov.vn"}
    stored = query(db_path, "select asset_id, portal, url from articles")
    for key, replica in (("sadec", city), ("sadec-p1", ward)):
        mine = {row["asset_id"] for row in stored if row["portal"] == key}
        assert mine == replica.captured_ids(), key


def test_wayback_keeps_one_article_once_under_its_owner_across_portals(tmp_path):
    """The province's captures include its re-posts of three city articles (same asset ids,
    files under the city's group): read from the web archive with ``-a portals=sadec,
    dongthap -a source=wayback``, each article is stored once, the re-posts under the city,
    with both portals in ``article_portals``, as a live crawl of the two would store them."""
    from replica.wayback import WaybackReplica

    city_site = Site(seed=0)
    province_site = Site(seed=3, id_offset=300_000_000, group_id=34223)
    with_files = [a for a in city_site.articles.values() if a.media_by_block and a.listed]
    for article in with_files[:3]:
        province_site.repost(article)
    city = WaybackReplica(city_site)
    province = WaybackReplica(province_site, host=REGISTRY.get("dongthap").host)
    from_city, from_province = city.captured_ids(), province.captured_ids()
    city.absorb(province)
    db_path = tmp_path / "archive.db"
    with city:
        result = wayback_crawl(city, db_path, "sadec,dongthap")
    assert result.returncode == 0, result.stderr[-3000:]
    stored = query(db_path, "select asset_id, portal, url from articles")
    ids = [row["asset_id"] for row in stored]
    assert len(ids) == len(set(ids)), "each article once"
    reposted = {a.asset_id for a in with_files[:3]} & from_province
    assert reposted, "the archive holds captures of the re-posts"
    by_id = {row["asset_id"]: row for row in stored}
    assert set(ids) == from_city | from_province
    for asset_id in reposted:
        assert by_id[asset_id]["portal"] == "sadec"
        assert by_id[asset_id]["url"].startswith(REGISTRY.get("sadec").base_url + "/")
    portals_of = portals_showing(db_path)
    # A re-post the archive also holds from the city was shown by both; one it holds only
    # from the province, by the province alone, and it is still the city's.
    for asset_id in reposted:
        expected = {"dongthap"} | ({"sadec"} if asset_id in from_city else set())
        assert portals_of[asset_id] == expected, (asset_id, portals_of[asset_id])
    assert reposted & from_city, "a re-post is in the archive from both portals"
    own = from_province - {a.asset_id for a in with_files[:3]}
    assert own and {by_id[i]["portal"] for i in own} == {"dongthap"}


# --- One article once ----------------------------------------------------------------------------
def test_an_article_the_province_reposts_is_stored_once_under_its_owner(tmp_path):
    """The province portal re-posts four of the city's articles and two of a ward's (same
    asset ids, files under the owners' groups). Crawled together, every article is stored
    once, under the portal that wrote it (told by the group id of its files), and
    ``article_portals`` records every portal that showed it."""
    city = Site(seed=0)
    ward = Site(seed=1, id_offset=100_000_000, group_id=1_000_001)
    province = Site(seed=3, id_offset=300_000_000, group_id=34223)
    with_files = [a for a in city.articles.values() if a.media_by_block and a.listed]
    reposted = {a.asset_id: "sadec" for a in with_files[:4]}
    ward_files = [a for a in ward.articles.values() if a.media_by_block and a.listed]
    reposted |= {a.asset_id: "sadec-p1" for a in ward_files[:2]}
    for article in with_files[:4] + ward_files[:2]:
        province.repost(article)
    sites = {"sadec": city, "sadec-p1": ward, "dongthap": province}
    # The ward's group id, as an operator registers it once seen (the shipped registry has
    # none for the wards): the owner of a re-post is told by it.
    data = shipped_registry()
    next(p for p in data["portals"] if p["key"] == "sadec-p1")["group_id"] = 1_000_001
    registry_file = write_registry(tmp_path, data)
    servers = {key: ReplicaServer(site) for key, site in sites.items()}
    with serving_portals(servers) as host_map:
        db_path = tmp_path / "archive.db"
        portals_crawl(
            db_path,
            host_map,
            "sadec,sadec-p1,dongthap",
            SADEC_WARC_DIR="off",
            SADEC_PORTALS_FILE=str(registry_file),
        )
    stored = query(db_path, "select asset_id, url, portal from articles")
    ids = [row["asset_id"] for row in stored]
    assert len(ids) == len(set(ids)), "each article once"
    expected = {t.asset_id for site in sites.values() for t in site.truth()}
    assert set(ids) == expected
    by_id = {row["asset_id"]: row for row in stored}
    for asset_id, owner in reposted.items():
        assert by_id[asset_id]["portal"] == owner
        assert by_id[asset_id]["url"].startswith(REGISTRY.get(owner).base_url + "/")
    portals_of = portals_showing(db_path)
    for asset_id, owner in reposted.items():
        assert portals_of[asset_id] == {owner, "dongthap"}
    others = set(ids) - set(reposted)
    assert all(len(portals_of[asset_id]) == 1 for asset_id in others)
    own = {t.asset_id for t in province.truth()} - set(reposted)
    assert {by_id[i]["portal"] for i in own} == {"dongthap"}


def test_the_search_page_searches_every_portal_or_one(several):
    """Over real HTTP: the portal menu appears once the archive holds two portals; choosing
    one keeps the results to its articles, and its count plus the other's is the whole."""
    import httpx

    from tests.support.reading_room import running_server

    _, db_path, _ = several
    with running_server(db_path) as base:
        every = httpx.get(f"{base}/-/search.json", params={"q": "thành phố"}).json()
        assert every["total"] > 0 and every["portal"] is None
        counts = {}
        for key in ("sadec", "sadec-p1"):
            one = httpx.get(f"{base}/-/search.json", params={"q": "thành phố", "portal": key})
            body = one.json()
            assert body["portal"] == key
            counts[key] = body["total"]
            urls = [row["url"] for row in body["rows"]]
            assert urls and all(u.startswith(REGISTRY.get(key).base_url + "/") for u in urls)
        assert sum(counts.values()) == every["total"]
        page = httpx.get(f"{base}/-/search", params={"q": "thành phố"}).text
        assert '<select id="portal" name="portal">' in page and ">sadec-p1</option>" in page


def test_each_portal_keeps_its_own_incremental_state(tmp_path):
    """A second crawl of two portals is incremental for each: neither walks everything
    again, and neither takes the other's articles for its own."""
    sites = {
        "sadec": Site(seed=0),
        "sadec-p1": Site(seed=1, id_offset=100_000_000, group_id=1_000_001),
    }
    servers = {key: ReplicaServer(site) for key, site in sites.items()}
    with serving_portals(servers) as host_map:
        db_path = tmp_path / "archive.db"
        runs = []
        for _ in range(2):
            marks = {key: len(server.requests) for key, server in servers.items()}
            portals_crawl(db_path, host_map, "sadec,sadec-p1", SADEC_WARC_DIR="off")
            runs.append({key: len(s.requests) - marks[key] for key, s in servers.items()})
    rows = query(db_path, "select portal, mode, articles_new, articles_seen from crawl_runs")
    first, second = rows[:2], rows[2:]
    assert {r["mode"] for r in first} == {"full"} and {r["mode"] for r in second} == {"incremental"}
    assert all(r["articles_new"] == 0 for r in second)
    for key in sites:
        assert runs[1][key] < runs[0][key] / 2, (key, runs)


def test_a_rebuild_of_a_several_portal_crawl_gives_the_same_rows(tmp_path):
    """The WARC captures of a crawl of two portals, replayed by ``sadec rebuild`` (each
    portal's run on its own base URL): the same articles, under the same owners."""
    import sys

    from sadec.rebuild import rebuild

    sites = {
        "sadec": Site(seed=0),
        "sadec-p1": Site(seed=1, id_offset=100_000_000, group_id=1_000_001),
    }
    servers = {key: ReplicaServer(site) for key, site in sites.items()}
    with serving_portals(servers) as host_map:
        db_path = tmp_path / "crawl" / "archive.db"
        portals_crawl(db_path, host_map, "sadec,sadec-p1", SADEC_FILES_DIR="off")
    rebuilt = tmp_path / "rebuilt" / "archive.db"
    assert (
        rebuild(db_path.parent / "captures", rebuilt, scrapy=[sys.executable, "-m", "scrapy"]) == 0
    )
    columns = "url, asset_id, portal, title, body_text, content_hash"
    sql = f"select {columns} from articles order by url"
    assert query(rebuilt, sql) == query(db_path, sql)
    assert {r["portal"] for r in query(rebuilt, sql)} == set(sites)
    shown = "select article_url, portal from article_portals order by 1, 2"
    assert query(rebuilt, shown) == query(db_path, shown)


def test_a_site_under_web_path_of_a_shared_host_is_crawled_as_its_own_portal(tmp_path):
    """The province's host serves the province at its root and a ward at
    ``/web/phuongx/`` (as Liferay serves every site, and as the province serves its units
    since the merger). ``-a portals=dongthap,phuong-x``: each portal's articles once, under its
    own URLs; the ward's crawl keeps to its path (the province's pages its footer links to are
    not the ward's), and the shared host gets one request at a time from both crawlers."""
    data = shipped_registry()
    data["portals"].append(PHUONG_X)
    registry_file = write_registry(tmp_path, data)
    province = Site(seed=3, id_offset=300_000_000, group_id=34223)
    ward = Site(seed=4, id_offset=400_000_000, group_id=1_000_004)
    db_path = tmp_path / "archive.db"
    with ReplicaServer(province, mounts={"/web/phuongx": ward}) as server:
        result = run_crawl(
            REGISTRY.get("sadec").base_url,
            db_path,
            settings={
                "SADEC_HOST_MAP": f"https://dongthap.gov.vn={server.url.rstrip('/')}",
                "SADEC_PORTALS_FILE": str(registry_file),
                "SADEC_WARC_DIR": "off",
                "SADEC_FILES_DIR": "off",
                "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
                "DOWNLOAD_DELAY": "0.005",
            },
            spider_args={"portals": "dongthap,phuong-x"},
            timeout=300,
        )
        log = sorted((r.started, r.finished) for r in server.requests if r.finished)
    assert result.returncode == 0, result.stderr[-3000:]
    stored = query(db_path, "select asset_id, url, portal from articles")
    assert len(stored) == len({row["asset_id"] for row in stored})
    for key, site, base in (
        ("dongthap", province, "https://dongthap.gov.vn/chi-tiet-bai-viet/"),
        ("phuong-x", ward, "https://dongthap.gov.vn/web/phuongx/chi-tiet-bai-viet/"),
    ):
        mine = {row["asset_id"]: row["url"] for row in stored if row["portal"] == key}
        assert sorted(mine) == sorted(t.asset_id for t in site.truth()), key
        assert all(url.startswith(base) for url in mine.values()), key
    runs = {r["portal"]: r for r in query(db_path, "select * from crawl_runs")}
    assert runs["phuong-x"]["articles_seen"] == len(ward.truth()), "kept to its path"
    for (_, end), (start, _) in zip(log, log[1:], strict=False):
        assert start >= end - 0.002, "one request at a time on the shared host"


def test_the_city_three_wards_and_the_province_in_one_crawl(tmp_path):
    """Issue 17's whole case in one run: the city portal, two ward portals on hosts of their
    own (one answering 500/503 to everything), a third ward under ``/web/phuongx`` of the
    province's host, and the province re-posting some of the city's and the wards' articles.
    Every article that can be read is archived once, under its owner, with every portal that
    showed it; the broken ward fails only its own part; each host gets one request at a time
    while the hosts overlap."""
    data = shipped_registry()
    for entry in data["portals"]:
        if entry["key"] in ("sadec-p1", "sadec-p2"):
            entry["group_id"] = {"sadec-p1": 1_000_001, "sadec-p2": 1_000_002}[entry["key"]]
    data["portals"].append(PHUONG_X)
    registry_file = write_registry(tmp_path, data)
    sites = {
        "sadec": Site(seed=0),
        "sadec-p1": Site(seed=1, id_offset=100_000_000, group_id=1_000_001),
        "sadec-p2": Site(seed=2, id_offset=200_000_000, group_id=1_000_002),
        "phuong-x": Site(seed=4, id_offset=400_000_000, group_id=1_000_004),
        "dongthap": Site(seed=3, id_offset=300_000_000, group_id=34223),
    }
    reposted = {}
    for key in ("sadec", "sadec-p1", "phuong-x"):
        for article in [a for a in sites[key].articles.values() if a.media_by_block][:2]:
            sites["dongthap"].repost(article)
            reposted[article.asset_id] = key
    servers = {
        "sadec": ReplicaServer(sites["sadec"]),
        "sadec-p1": ReplicaServer(sites["sadec-p1"]),
        "sadec-p2": ReplicaServer(sites["sadec-p2"], FaultConfig(error_rate=1.0)),
        "dongthap": ReplicaServer(sites["dongthap"], mounts={"/web/phuongx": sites["phuong-x"]}),
    }
    with serving_portals(servers) as host_map:
        db_path = tmp_path / "archive.db"
        result = run_crawl(
            REGISTRY.get("sadec").base_url,
            db_path,
            settings={
                "SADEC_HOST_MAP": host_map,
                "SADEC_PORTALS_FILE": str(registry_file),
                "SADEC_WARC_DIR": "off",
                "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
                "DOWNLOAD_DELAY": "0.01",
                "RETRY_TIMES": "1",
                "SADEC_RETRY_BACKOFF": "0.05",
            },
            spider_args={"portals": "sadec,sadec-p1,sadec-p2,phuong-x,dongthap"},
            timeout=300,
        )
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if "portal " in line and "failed" in line]
    assert len(failed) == 1 and "portal sadec-p2 (" in failed[0], failed
    stored = query(db_path, "select asset_id, url, portal from articles")
    ids = [row["asset_id"] for row in stored]
    assert len(ids) == len(set(ids)), "each article once"
    readable = {
        t.asset_id for key, site in sites.items() if key != "sadec-p2" for t in site.truth()
    }
    assert set(ids) == readable
    by_id = {row["asset_id"]: row for row in stored}
    bases = {entry["key"]: entry["base_url"] for entry in data["portals"]}
    for asset_id, owner in reposted.items():
        assert by_id[asset_id]["portal"] == owner
        assert by_id[asset_id]["url"].startswith(bases[owner] + "/chi-tiet-bai-viet/")
    portals_of = portals_showing(db_path)
    assert all(portals_of[i] == {owner, "dongthap"} for i, owner in reposted.items())
    runs = {row["portal"]: row for row in query(db_path, "select * from crawl_runs")}
    assert runs["sadec-p2"]["exit_status"] == 1
    assert all(runs[key]["exit_status"] == 0 for key in runs if key != "sadec-p2")
    spans = []
    for key, server in servers.items():
        timed = sorted((r.started, r.finished) for r in server.requests if r.finished)
        for (_, end), (start, _) in zip(timed, timed[1:], strict=False):
            assert start >= end - 0.002, f"{key}: two requests at once"
        spans.append((timed[0][0], timed[-1][1]))
    assert max(s for s, _ in spans) < min(e for _, e in spans), "the hosts overlap in time"


def test_the_archive_says_whose_portal_each_was_and_whether_it_was_verified(several):
    _, db_path, _ = several
    portals = {row["key"]: row for row in query(db_path, "select * from portals")}
    assert len(portals) == len(REGISTRY.portals)
    assert portals["sadec"]["verified"] == 1 and portals["sadec"]["group_id"] == 481527
    assert portals["sadec-p1"]["verified"] == 0 and portals["sadec-p1"]["parent"] == "sadec"
    assert "Phường Tân Quy" in portals["sadec"]["successors"]
    assert portals["sadec"]["successors_verified"] == 0
    joined = query(
        db_path,
        "select p.unit, count(*) as n from articles a join portals p on p.key = a.portal "
        "group by p.unit order by p.unit",
    )
    assert {row["unit"] for row in joined} == {
        REGISTRY.get("sadec").unit,
        REGISTRY.get("sadec-p1").unit,
    }


# --- Links to another portal, handed to it ----------------------------------------------------
HANDED_ID = 99_001
"""The corpus id of a ward article no page of the ward links to (its asset id: plus the
ward's offset)."""


HANDED_ASSET_ID = 100_000_000 + HANDED_ID
"""The ward article only a city article links to, as the ward's site numbers it."""


def city_linking_to_a_ward_article() -> tuple[dict[str, ReplicaServer], str]:
    """The city and ward 1; the ward has an article no page of its own links to (unlisted, in
    no related block), and one of the city's articles links to it in its body. Returns a
    replica server for each (not started) and the ward article's canonical URL."""
    city = Site(seed=0)
    ward = Site(seed=1, id_offset=100_000_000, group_id=1_000_001)
    ward.add_article(
        {
            "asset_id": HANDED_ID,
            "title": "Phường 1 ra quân tổng vệ sinh môi trường khu dân cư",
            "date": "2025-03-20",
            "body": [
                "Ngày 20/3/2025, Phường 1 tổ chức ra quân tổng vệ sinh môi trường tại các "
                "khóm, khu dân cư trên địa bàn phường.",
                "Đoàn viên, hội viên và người dân cùng thu gom rác thải, phát quang bụi rậm.",
            ],
            "byline": {
                "text": "Minh Thư, UBND phường 1",
                "author": "Minh Thư",
                "unit": "UBND phường 1",
            },
            "page": {"listed": False},
        },
        "tin-tuc-su-kien",
    )
    ward_url = (
        f"{REGISTRY.get('sadec-p1').base_url}/chi-tiet-bai-viet/-/asset_publisher/"
        f"{ward.config['detail_instance']}/content/id/{HANDED_ASSET_ID}"
    )
    city.add_article(
        {
            "asset_id": 99_002,
            "title": "Thành phố Sa Đéc phát động phong trào vệ sinh môi trường",
            "date": "2025-03-21",
            "body": [
                "Ngày 21/3/2025, UBND thành phố Sa Đéc phát động phong trào vệ sinh môi trường "
                "trong các phường, xã.",
                {
                    "raw": f'<p>Xem thêm: <a href="{ward_url}">Phường 1 ra quân tổng vệ sinh '
                    "môi trường</a></p>"
                },
            ],
        },
        "tin-tuc-su-kien",
    )
    return {"sadec": ReplicaServer(city), "sadec-p1": ReplicaServer(ward)}, ward_url


def handoff_crawl(db_path: Path, host_map: str, portals: str):
    portals_crawl(db_path, host_map, portals, SADEC_WARC_DIR="off", SADEC_FILES_DIR="off")


def requests_for(server: ReplicaServer, asset_id: int) -> list:
    return [
        r for r in server.requests if r.path_with_query.split("?")[0].endswith(f"/id/{asset_id}")
    ]


def test_a_link_to_another_portal_in_the_run_is_handed_to_it(tmp_path):
    """``-a portals=sadec,sadec-p1``: the city's article links to a ward article that no page of
    the ward links to. The city's crawl does not fetch it (not its own) and does not drop it:
    it hands it to the ward, whose crawl, in the same run, requests it as its own and archives
    it under the ward's URL; the hand-off is marked handled by the ward's run."""
    servers, ward_url = city_linking_to_a_ward_article()
    with serving_portals(servers) as host_map:
        db_path = tmp_path / "archive.db"
        handoff_crawl(db_path, host_map, "sadec,sadec-p1")
        assert len(requests_for(servers["sadec-p1"], HANDED_ASSET_ID)) == 1
        assert not requests_for(servers["sadec"], HANDED_ASSET_ID)
    stored = query(
        db_path, "select url, portal from articles where asset_id = ?", [HANDED_ASSET_ID]
    )
    assert stored == [{"url": ward_url, "portal": "sadec-p1"}]
    shown = query(db_path, "select portal from article_portals where article_url = ?", [ward_url])
    assert shown == [{"portal": "sadec-p1"}]
    runs = {r["portal"]: r["id"] for r in query(db_path, "select id, portal from crawl_runs")}
    handoffs = query(db_path, "select * from portal_handoffs")
    assert [(h["url"], h["to_portal"], h["from_portal"], h["kind"]) for h in handoffs] == [
        (ward_url, "sadec-p1", "sadec", "article")
    ]
    assert handoffs[0]["asset_id"] == HANDED_ASSET_ID
    assert handoffs[0]["found_run_id"] == runs["sadec"]
    assert handoffs[0]["handled_at"] and handoffs[0]["handled_run_id"] == runs["sadec-p1"]
    assert "/content/id/99002" in handoffs[0]["found_on"]


def test_a_link_to_a_portal_not_in_the_run_is_kept_for_its_next_run(tmp_path):
    """The city crawled alone keeps the link to the ward's article (pending, not fetched);
    the ward's next crawl, alone, takes it at its start and archives it as its own."""
    servers, ward_url = city_linking_to_a_ward_article()
    with serving_portals(servers) as host_map:
        db_path = tmp_path / "archive.db"
        handoff_crawl(db_path, host_map, "sadec")
        pending = query(db_path, "select * from portal_handoffs")
        assert [(h["url"], h["to_portal"], h["handled_at"]) for h in pending] == [
            (ward_url, "sadec-p1", None)
        ]
        assert not servers["sadec-p1"].requests, "the city's crawl never fetched the ward's"
        assert not query(db_path, "select 1 from articles where asset_id = ?", [HANDED_ASSET_ID])
        handoff_crawl(db_path, host_map, "sadec-p1")
        assert len(requests_for(servers["sadec-p1"], HANDED_ASSET_ID)) == 1
    stored = query(
        db_path, "select url, portal from articles where asset_id = ?", [HANDED_ASSET_ID]
    )
    assert stored == [{"url": ward_url, "portal": "sadec-p1"}]
    ward_run = query(db_path, "select id from crawl_runs where portal = 'sadec-p1'")[0]["id"]
    handled = query(db_path, "select handled_at, handled_run_id from portal_handoffs")
    assert handled[0]["handled_at"] and handled[0]["handled_run_id"] == ward_run


def test_links_to_a_site_under_web_path_of_this_host_are_handed_to_it(tmp_path):
    """The province's page links to the ward site under its own host's ``/web/phuongx``: the
    parsers take it for the province's (same host, no path of its own); the hand-off rule
    gives it to the ward, and the province's crawl leaves it alone."""
    from sadec_crawler.handoffs import PortalLinks

    data = shipped_registry()
    data["portals"].append(PHUONG_X)
    registry = load_registry(write_registry(tmp_path, data))
    province = PortalLinks(registry, registry.get("dongthap"))
    ward_article = (
        "/web/phuongx/chi-tiet-bai-viet/-/asset_publisher/1mOzUrGkrdAE/content/id/400000123"
    )
    page = (
        f'<a href="{ward_article}?redirect=%2F">x</a> <a href="/web/phuongx/tin-tuc">y</a>'
        '<a href="/tin-tuc">z</a> <a href="https://dongthap.gov.vn/">home</a>'
        '<a href="https://p1.sadec.dongthap.gov.vn/">ward 1 home</a>'
    )
    found = province.handoffs(page, "https://dongthap.gov.vn/tin-tuc")
    assert [(h.url, h.to_portal, h.kind, h.asset_id) for h in found] == [
        (f"https://dongthap.gov.vn{ward_article}", "phuong-x", "article", 400000123),
        ("https://dongthap.gov.vn/web/phuongx/tin-tuc", "phuong-x", "page", None),
    ]
    assert province.is_nested_elsewhere(f"https://dongthap.gov.vn{ward_article}")
    assert not province.is_nested_elsewhere("https://dongthap.gov.vn/tin-tuc")


# --- Ownership learnt from the portals' own pages ------------------------------------------------
def test_ownership_is_learnt_when_the_registry_has_no_group_ids(tmp_path):
    """No group id in the registry, and the province (which re-posts four of the city's
    articles) crawled first, alone: it archives them first, under its own URLs, as nothing yet
    tells whose they are. The city's crawl then learns each portal's group from its own pages
    (the group most of the articles it showed keep their files under) and moves the re-posts
    to the city, their owner, with every portal that showed them kept."""
    city = Site(seed=0)
    province = Site(seed=3, id_offset=300_000_000, group_id=34223)
    with_files = [a for a in city.articles.values() if a.media_by_block and a.listed]
    reposted = {a.asset_id for a in with_files[:4]}
    for article in with_files[:4]:
        province.repost(article)
    data = shipped_registry()
    for entry in data["portals"]:
        entry.pop("group_id", None)
    registry_file = write_registry(tmp_path, data)
    servers = {"sadec": ReplicaServer(city), "dongthap": ReplicaServer(province)}
    db_path = tmp_path / "archive.db"
    with serving_portals(servers) as host_map:
        for portals in ("dongthap", "sadec"):
            portals_crawl(
                db_path,
                host_map,
                portals,
                SADEC_WARC_DIR="off",
                SADEC_PORTALS_FILE=str(registry_file),
            )
            if portals == "dongthap":
                first = query(db_path, "select asset_id, portal from articles")
                assert {r["portal"] for r in first if r["asset_id"] in reposted} == {"dongthap"}
    learnt = {
        r["key"]: r
        for r in query(db_path, "select * from portals where learnt_group_id is not null")
    }
    assert learnt["sadec"]["learnt_group_id"] == city.group_id
    assert learnt["dongthap"]["learnt_group_id"] == 34223
    assert learnt["dongthap"]["learnt_group_articles"] < learnt["dongthap"]["learnt_group_of"]
    stored = query(db_path, "select asset_id, url, portal from articles")
    assert len(stored) == len({r["asset_id"] for r in stored}), "each article once"
    by_id = {r["asset_id"]: r for r in stored}
    for asset_id in reposted:
        assert by_id[asset_id]["portal"] == "sadec"
        assert by_id[asset_id]["url"].startswith(REGISTRY.get("sadec").base_url + "/")
        images = query(
            db_path, "select url from images where article_url = ?", [by_id[asset_id]["url"]]
        )
        attachments = query(
            db_path, "select url from attachments where article_url = ?", [by_id[asset_id]["url"]]
        )
        assert images or attachments, "its files moved with it"
        shown = query(
            db_path,
            "select portal, shown_url from article_portals where article_url = ?",
            [by_id[asset_id]["url"]],
        )
        assert {r["portal"] for r in shown} == {"sadec", "dongthap"}
        province_shown = next(r["shown_url"] for r in shown if r["portal"] == "dongthap")
        assert province_shown.startswith(REGISTRY.get("dongthap").base_url + "/")
    own = {t.asset_id for t in province.truth()} - reposted
    assert {by_id[i]["portal"] for i in own} == {"dongthap"}
    assert not query(
        db_path, "select * from article_portals where article_url not in (select url from articles)"
    )


# --- The unit authority per portal, before and after the merger ----------------------------------
def test_every_portal_unit_is_a_unit_of_the_authority():
    from sadec_crawler.units import default_authority

    authority = default_authority()
    for portal in REGISTRY.portals:
        assert authority.knows(portal.unit), portal.key
    city = authority.get(REGISTRY.get("sadec").unit)
    assert city.successors == ("UBND phường Sa Đéc", "UBND phường Tân Quy", "UBND phường An Hiệp")
    assert not city.successors_verified
    ward = authority.get(REGISTRY.get("sadec-p1").unit)
    assert ward.name == "UBND phường 1" and ward.valid_to == "2025-06-30"
    assert authority.successors_of(ward.name) == (city.successors, False, city.name)
    assert authority.successors_of(REGISTRY.get("laivung").unit) == ((), False, None)


def test_the_reading_room_files_each_portal_under_its_unit_and_says_what_followed(several):
    """Over real HTTP: ``units`` gives a unit's level, parent, end, successors and whether they
    were verified; ``unit_articles?unit=…`` lists a unit's articles across portals (the ward
    portal's own, filed by portal)."""
    import httpx

    from tests.support.reading_room import running_server

    _, db_path, _ = several
    ward_count = query(db_path, "select count(*) as n from articles where portal = 'sadec-p1'")
    with running_server(db_path) as base:
        units = httpx.get(
            f"{base}/archive/units.json", params={"name": "UBND phường 1", "_shape": "array"}
        ).json()
        assert len(units) == 1
        ward = units[0]
        assert (ward["level"], ward["parent"], ward["valid_to"]) == (
            "ward",
            "UBND thành phố Sa Đéc",
            "2025-06-30",
        )
        assert "UBND phường Tân Quy" in ward["successors"]
        assert ward["successors_verified"] == 0 and ward["verified"] == 0
        assert ward["successors_via"] == "UBND thành phố Sa Đéc"
        portals = httpx.get(
            f"{base}/archive/portals.json", params={"key": "sadec-p1", "_shape": "array"}
        ).json()
        assert portals[0]["canonical_unit"] == "UBND phường 1"
        filed = httpx.get(
            f"{base}/archive/unit_articles.json",
            params={
                "unit": "UBND phường 1",
                "filed_by": "portal",
                "_shape": "array",
                "_size": "max",
            },
        ).json()
        assert len(filed) == ward_count[0]["n"] > 0
        assert {row["portal"] for row in filed} == {"sadec-p1"}
        city = httpx.get(
            f"{base}/archive/unit_articles.json",
            params={"unit": "UBND thành phố Sa Đéc", "filed_by": "portal", "_size": "0"},
        ).json()
        city_count = query(db_path, "select count(*) as n from articles where portal = 'sadec'")
        assert city["filtered_table_rows_count"] == city_count[0]["n"]
        page = httpx.get(f"{base}/archive/unit_articles", params={"unit": "UBND phường 1"})
        assert page.status_code == 200 and "UBND phường 1" in page.text
