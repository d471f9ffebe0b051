"""Every selector the crawler uses, kept as data in one place.

Sources: Liferay's Asset Publisher JSPs and the journal taglib (see docs/site-spec.md §3 and §7).
When the live site or its captures disagree, correct it here and nowhere else. Each list is
tried in order; the first that matches wins.
"""

import re

# --- Asset Publisher portlets (listing pages and the article display page) -------------------
PORTLET = (
    'div[id^="p_p_id_com_liferay_asset_publisher_web_portlet_AssetPublisherPortlet"]',
    'div[id^="p_p_id_101_INSTANCE"]',
    "section.portlet",
)
PORTLET_TITLE_TEXT = "Xuất bản thông tin"
"""Liferay's Vietnamese name of the Asset Publisher (Language_vi.properties): never a title."""

# --- Listing entries ---------------------------------------------------------------------------
# Stock templates (view_asset_entries_abstract.jsp, _title_list.jsp, _table.jsp). A custom card
# template is handled by the generic entry finder in parsing.py.
LISTING_ENTRY_CONTAINERS = (
    "div.asset-abstract",
    "li.list-group-item",
    "table.table-list tr",
)
LISTING_ENTRY_TAGS = ("li", "tr", "article")
LISTING_ENTRY_CLASSES = frozenset({"asset-abstract", "list-group-item"})
"""An entry of a stock template ends at these elements, whatever it links to."""
LISTING_ENTRY_DATE = (
    ".date-info",
    ".metadata-publish-date",
    ".list-group-subtitle",
    "td.table-date",
    ".date",
    "time",
)
LISTING_ENTRY_SUMMARY = (
    ".asset-content",
    ".asset-summary",
    ".summary",
    ".card-text",
    ".description",
    "p.list-group-text",
)
# Template chrome inside an entry that is not summary text.
LISTING_ENTRY_NOISE = (
    ".asset-categories",
    ".taglib-asset-categories-summary",
    ".metadata-author",
    ".asset-metadata",
    ".asset-more",
    ".read-more",
    ".hide-accessible",
    ".taglib-asset-metadata",
    ".lfr-meta-actions",
    "script",
    "style",
)

# --- Pagination (page_iterator taglib: Liferay 7 lexicon and 6.2 legacy) ----------------------
PAGINATION_CONTAINERS = (
    ".pagination-bar",
    "ul.pagination",
    ".taglib-page-iterator",
    ".lfr-pagination",
    "ul.pager",
)

# What the pager says of the listing's size (site-spec §8: the classic page selector reads
# "Các trang trên cổng X của Y", older and other locales "Trang X của Y" or "Page X of Y"; the
# results line "Hiển thị A - B của T kết quả." or "Showing A to B of T entries.").
PAGER_PAGE_OF_TEXT = (
    ".lfr-pagination-config .lfr-icon-menu-text",
    ".lfr-pagination-page-selector .lfr-icon-menu-text",
    ".lfr-pagination .dropdown-toggle",
)
PAGER_RESULTS_TEXT = (
    ".pagination-results",
    ".taglib-page-iterator small.search-results",
    ".lfr-pagination small.search-results",
)
PAGER_PAGE_OF = r"(\d[\d.,]*)\s+(?:của|of|trên|/)\s+(\d[\d.,]*)\s*$"
PAGER_RESULTS = (
    r"(\d[\d.,]*)\s*(?:-|–|đến|to)\s*(\d[\d.,]*)\s+(?:của|of|trong số|trong|trên)\s+(\d[\d.,]*)"
)

# --- Article page -----------------------------------------------------------------------------
ARTICLE_ROOT = (
    "div.asset-full-content",
    "div.journal-content-article",
)
ARTICLE_TITLE = (
    "div.asset-full-content .asset-title",
    "div.asset-full-content h4.component-title",
)
ARTICLE_HEADER = (
    ".taglib-header",
    "div.h2",
)
"""Liferay 6.2 (``liferay-ui:header``: ``div.taglib-header > span.header-back-to +
h3.header-title > span``) and 7.0/7.1 (``div.h2 > span.header-back-to + span``) print the title
in a header with a back link, outside ``div.asset-full-content`` (site-spec §8)."""
ARTICLE_HEADER_BACK_LINK = ".header-back-to"
ARTICLE_HEADER_NULL = "null"
"""What the 7.0/7.1 back link prints when its message is unset (the sample page's "null")."""
ARTICLE_TITLE_ATTRIBUTE = (
    "[data-analytics-asset-title].journal-content-article::attr(data-analytics-asset-title)"
)
"""The attribute test first: libxml2 then reads the class of the few elements that carry it,
not of every element (0.25 → 0.12 ms over a 176 KB replica page, same matches)."""
ARTICLE_TITLE_HEADINGS = (
    ".title-detail",
    ".article-title",
    ".detail-title",
    ".news-title",
    ".post-title",
    "div.asset-full-content h1",
    "div.asset-full-content h2",
    "div.asset-full-content h3",
)
SITE_NAME_PATTERN = r"cổng thông tin|sa đéc|sadec|đồng tháp|liferay"
"""What the site-name suffix of ``<title>`` contains (site-spec §3 item 9)."""
PAGE_NAMES = ("chi tiết bài viết", "chi tiết tin", "tin tức")
"""Names of the display page that 7.0 puts between the title and the site in ``<title>``
("TITLE - <page> - <site> - <company>", site-spec §8)."""
ARTICLE_BODY = (
    "div.asset-full-content div.journal-content-article",
    "div.asset-full-content div.asset-content",
    "div.journal-content-article",
)
ARTICLE_PAGE_LINKS = "a.journal-article-page-number::attr(href)"
"""Pages of a multi-page web content (journal ``asset/full_content.jsp``: a page iterator of
type "article"); every page's text belongs to the article (site-spec §8)."""
ARTICLE_PAGE_PARAMETER = re.compile(r"_page=(?P<number>\d+)")
"""The page iterator's ``<ns>page=N`` parameter (not ``_cur``)."""
ARTICLE_ASSET_ANCHOR = "span.asset-anchor::attr(id)"
ARTICLE_ASSET_CONTENT_ID = "div.asset-content::attr(id)"
"""6.2 and 7.0/7.1 print the asset entry id only here, after the portlet namespace:
``id="_101_INSTANCE_1mOzUrGkrdAE_9312345"`` (``full_content.jsp``, site-spec §8)."""
ASSET_CONTENT_ID = re.compile(r"_(?P<asset_id>\d{4,10})$")
ARTICLE_QUICK_TITLE = (ARTICLE_TITLE_ATTRIBUTE, ".asset-title::text")
"""Cheap title lookups the spider uses to match url-title links before full parsing."""
BODY_CLASS = "journal-content-article"
UNIT_PREFIX = re.compile(r"(?<![\w])[A-Z]{1,5}_(?=\w)")
"""Category labels carry a per-unit prefix such as ``SD_`` (site-spec §3 item 3)."""
ARTICLE_CATEGORY = (
    "span.taglib-asset-categories-summary a.asset-category",
    "span.taglib-asset-categories-summary a",
    ".asset-categories a",
    "a.label",
    ".category a",
)
CATEGORY_PATH_SEPARATOR = "»"
"""6.2/7.0 print a nested category as its path, "Cha » Con": the leaf is the category."""
ARTICLE_KEYWORDS = 'meta[name="keywords"]::attr(content)'
"""The Asset Publisher adds the shown article's categories to the page keywords: the last
place a category label can be read when the page prints no summary."""
ARTICLE_DATE_LINE = (
    "div.asset-full-content .date-info",
    ".metadata-publish-date",
    ".asset-user-info .date-info",
    ".date-info",
    ".metadata-author",
    ".post-date",
    ".publish-date",
    ".time-detail",
)
ARTICLE_HEADER_NOISE_PREFIXES = ("null ", "Chi tiết bài viết")
"""Texts the template prints around the title (site-spec §3 items 2–3): never the title."""

RELATED_BLOCK_TITLE = "Có thể bạn quan tâm"
RELATED_BLOCK_TITLES = (RELATED_BLOCK_TITLE, "Các tài sản liên quan", "Tin liên quan", "Tin khác")
"""Headings of lists of other articles (the site's template; 6.2/7.0 stock related assets,
``Language_vi.properties`` "related-assets"): the list and what follows are never body text."""
BODY_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")

SOFT_404_MARKERS = (
    "không tồn tại",
    "không tìm thấy",
    "trang bạn yêu cầu",
    "not found",
    "404",
)
"""Wording of error pages served with status 200 (Liferay's and the replica's "soft 404")."""

# --- Body cleaning --------------------------------------------------------------------------------
BODY_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "iframe",
    "frame",
    "object",
    "embed",
    "form",
    "input",
    "button",
    "select",
    "textarea",
    "svg",
    "math",
    "link",
    "meta",
    "base",
    "template",
)
ATTACHMENT_SUFFIXES = (
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".ppt",
    ".pptx",
    ".zip",
    ".rar",
    ".7z",
    ".odt",
    ".ods",
    ".txt",
    ".rtf",
)
LEGACY_FILE_LINK = "/c/document_library/get_file"
"""Liferay 6.2's download servlet (``…/get_file?uuid=…&groupId=…``)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp")
CAPTION_MAX_CHARS = 300
