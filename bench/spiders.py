"""Bench-only baselines for the crawl benchmark, run with ``scrapy runspider`` under the
project's settings (same downloader, robots.txt, concurrency and priority queue as the real
crawl), minus its pipelines, WARC writer and extensions.

- ``-a mode=fetch``: requests every URL of ``-a urls=<file>`` (one a line) and does nothing
  with the answers: the cost of Scrapy and the network alone.
- ``-a mode=soup``: the same, plus the naive archiver's pipeline: every HTML page parsed whole
  by BeautifulSoup (lxml), the article node's text and the page's links read from the tree.
"""

from __future__ import annotations

from pathlib import Path

import scrapy
from bs4 import BeautifulSoup
from scrapy.http import Request, TextResponse

SOUP_PIPELINES = '{"bench.spiders.NaiveSoupPipeline": 300}'


class NaiveSoupPipeline:
    """BeautifulSoup over the whole page, as a first-draft archiver would do it."""

    def process_item(self, item):
        soup = BeautifulSoup(item["html"], "lxml")
        node = soup.select_one("div.journal-content-article")
        item["text_chars"] = len(node.get_text("\n", strip=True)) if node else 0
        item["links"] = len(soup.find_all("a", href=True))
        del item["html"]
        return item


class BaselineSpider(scrapy.Spider):
    name = "bench_baseline"
    custom_settings = {
        # mode=soup adds NaiveSoupPipeline from the command line (see SOUP_PIPELINES).
        "ITEM_PIPELINES": {},
        # Scrapy's own downloader middlewares only (no WARC writer, no web-archive rewriting).
        "DOWNLOADER_MIDDLEWARES": {},
        "EXTENSIONS": {"scrapy.extensions.logstats.LogStats": None},
    }

    def __init__(self, urls: str, mode: str = "fetch", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("fetch", "soup"):
            raise ValueError(f"-a mode={mode!r}: fetch or soup")
        self.mode = mode
        self.urls = [u for u in Path(urls).read_text().splitlines() if u]

    async def start(self):
        for url in self.urls:
            # dont_filter: exactly the requests the real crawl made, repeats included.
            yield Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response):
        if self.mode == "soup" and isinstance(response, TextResponse):
            yield {"url": response.url, "html": response.text}
