"""Writing a cleaned body back out (``sadec_crawler.body``): what BeautifulSoup would write,
character for character, on markup chosen for its awkward corners (quotes, escapes, void and
namespaced elements, comments, raw text, deep nesting)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from sadec_crawler.body import _inner_html

ODD_BODIES = [
    '<p title=\'say "hi"\' class="x y">a &amp; b &lt;c&gt; "q"</p>',
    """<p data-x="it's &quot;both&quot;" lang="vi">both quotes</p>""",
    "<p>line<br>break<img src=\"a.jpg?x=1&amp;y=2\" alt='&lt;'><hr></p>",
    "<o:p>Word's own element</o:p><p><!-- a comment --> after it</p>",
    "<script>if (a < b && c > d) {}</script><style>p > b {}</style>",
    "<input disabled><table><tr><td colspan=2>cell</td></tr></table>",
    "<p>Thành phố Sa Đéc\u00a0ngày 19/3</p>",
    "<div>" * 200 + "nested deeper than a recursion would like" + "</div>" * 200,
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_inner_html_writes_what_beautifulsoup_writes(body):
    soup = BeautifulSoup(f"<div>{body}</div>", "lxml")
    root = soup.div
    assert _inner_html(root) == root.decode_contents()
