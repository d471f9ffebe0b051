"""Page weight a real Liferay 7.0 portal page carries around its content.

The portal's pages weigh about 180 KB, of which the article is a few KB: the rest is the theme's
inline CSS, Liferay's inline JavaScript (``themeDisplay``, the AUI/YUI module map, portlet
start-up code), an SVG icon sprite, and side widgets (a "Liên kết website" drop-down of the
province's sites, a visitor counter, banners). Crawler benchmarks need that weight: parsing a
whole 180 KB page costs far more than parsing a 9 KB one.

None of it changes what a crawler reads: no same-site links, no headings, paragraphs, dates,
category labels or portlet wrappers, nothing that names the Asset Publisher. The first ``</p>``
and ``</ul>`` of a page stay where they were (the malformed-markup fault breaks those), so the
widgets come after the content. Built once, deterministically (same bytes every run).
"""

from __future__ import annotations

import functools
import json
import random

from markupsafe import Markup

_SEED = "liferay-7.0.6-ga7-sadec-theme"


def _words(text: str, separator: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(separator))


_MODULE_PARTS = _words(
    "aui liferay frontend js web portlet taglib util dom event node widget base io form "
    "validator dialog iframe menu toggler navigation search container loader tooltip "
    "popover datepicker editor alloy ckeditor upload image selector item layout asset "
    "journal ddm dynamic data mapping document library social ratings comments map "
    "google session notice store state router senna surface"
)
_CSS_PROPERTIES = (
    ("color", ("#333", "#1c4d8c", "#fff", "#6b6c7e", "#a7a9bc", "#0b5fff", "#e7e7ed", "inherit")),
    ("background-color", ("#fff", "#f1f2f5", "#1c4d8c", "#d32f2f", "transparent", "#fcfcfc")),
    ("margin", ("0", "0 auto", "0 0 1rem", "0.5rem 0", "-15px", "1.5rem 0 0")),
    ("padding", ("0", "0.25rem 0.5rem", "0.75rem 1.25rem", "10px 15px", "1rem")),
    ("font-size", ("0.875rem", "1rem", "14px", "13px", "1.125rem", "12px")),
    ("display", ("block", "inline-block", "flex", "none", "inline-flex", "table")),
    ("border", ("0", "1px solid #e7e7ed", "1px solid transparent", "2px solid #1c4d8c")),
    ("line-height", ("1.5", "1.2", "20px", "normal", "1.42857")),
    ("position", ("relative", "absolute", "static", "fixed")),
    ("transition", ("all .2s ease", "opacity .15s linear", "none", "color .3s")),
)
_CSS_SELECTOR_PARTS = _words(
    ".navbar .nav-item .dropdown-menu .portlet-boundary .lfr-nav-item .btn .sidebar-box "
    ".weblinks .footer-info .banner-main .top-bar .card .row .col-md-4 .col-md-8 "
    ".autofit-row .lexicon-icon .control-menu .modal .tooltip .popover .form-control "
    ".input-group .clay-site .visitor-counter .gallery-strip .widget-title .site-links "
    ".hotline .portal-widgets"
)
_ICON_NAMES = _words(
    "angle-down angle-left angle-right angle-up bars calendar caret-bottom caret-top "
    "check check-circle times times-circle search home user users envelope-closed phone "
    "print share download upload document documents-and-media picture video link globe "
    "info-circle warning exclamation-circle question-circle lock unlock cog plus minus "
    "pencil trash star star-o heart bookmarks comments rss twitter facebook google "
    "linkedin youtube shortcut sitemap folder hidden view reload sort filter list cards2 "
    "table time thumbs-up thumbs-down flag-empty flag-full blogs wiki message-boards "
    "polls web-content"
)
_PROVINCE_SITES = _words(
    "Sở Nội vụ|Sở Tư pháp|Sở Kế hoạch và Đầu tư|Sở Tài chính|Sở Công Thương|"
    "Sở Nông nghiệp và Phát triển nông thôn|Sở Giao thông vận tải|Sở Xây dựng|"
    "Sở Tài nguyên và Môi trường|Sở Thông tin và Truyền thông|"
    "Sở Lao động - Thương binh và Xã hội|Sở Văn hóa, Thể thao và Du lịch|"
    "Sở Khoa học và Công nghệ|Sở Giáo dục và Đào tạo|Sở Y tế|Thanh tra tỉnh|Ban Dân tộc|"
    "Văn phòng UBND tỉnh|Ban Quản lý các khu công nghiệp",
    "|",
)
_DISTRICTS = _words(
    "Thành phố Cao Lãnh|Thành phố Hồng Ngự|Huyện Tân Hồng|Huyện Hồng Ngự|Huyện Tam Nông|"
    "Huyện Thanh Bình|Huyện Tháp Mười|Huyện Cao Lãnh|Huyện Lấp Vò|Huyện Lai Vung|"
    "Huyện Châu Thành",
    "|",
)
_WARDS = _words(
    "Phường 1|Phường 2|Phường 3|Phường 4|Phường An Hòa|Phường Tân Quy Đông|"
    "Xã Tân Khánh Đông|Xã Tân Quy Tây|Xã Tân Phú Đông",
    "|",
)


def _slug(rng: random.Random, parts: int) -> str:
    return "-".join(rng.choice(_MODULE_PARTS) for _ in range(parts))


def _hex(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(length))


def _module_map(rng: random.Random, count: int) -> dict:
    """The AMD/YUI loader's module table, as Liferay prints it into every page."""
    modules = {}
    names = [
        f"{_slug(rng, 2)}@{rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 30)}"
        for _ in range(count)
    ]
    for name in names:
        path = f"/o/{_slug(rng, 3)}/{_slug(rng, 2)}.js"
        modules[f"{name}/{_slug(rng, 1)}"] = {
            "dependencies": rng.sample(names, k=rng.randint(1, 6)),
            "path": f"{path}?browserId=other&languageId=vi_VN&t={rng.randint(10**12, 2 * 10**12)}",
            "condition": None if rng.random() < 0.7 else {"trigger": _slug(rng, 2)},
        }
    return modules


def _theme_display(rng: random.Random) -> str:
    getters = {
        "getLayoutId": "23",
        "getLayoutRelativeURL": "/chi-tiet-bai-viet",
        "getLayoutURL": "/chi-tiet-bai-viet",
        "getParentLayoutId": "0",
        "isControlPanel": False,
        "isPrivateLayout": "false",
        "isVirtualLayout": False,
        "getBCP47LanguageId": "vi-VN",
        "getCDNBaseURL": "",
        "getCDNDynamicResourcesHost": "",
        "getCDNHost": "",
        "getCompanyGroupId": "20152",
        "getCompanyId": "20116",
        "getDefaultLanguageId": "vi_VN",
        "getDoAsUserIdEncoded": "",
        "getLanguageId": "vi_VN",
        "getParentGroupId": "481527",
        "getPathContext": "",
        "getPathImage": "/image",
        "getPathJavaScript": "/o/frontend-js-web",
        "getPathMain": "/c",
        "getPathThemeImages": "/o/sadec-theme/images",
        "getPathThemeRoot": "/o/sadec-theme",
        "getPlid": "481563",
        "getPortalURL": "",
        "getScopeGroupId": "481527",
        "getScopeGroupIdOrLiveGroupId": "481527",
        "getSessionId": "",
        "getSiteAdminURL": "",
        "getSiteGroupId": "481527",
        "getURLControlPanel": "/group/control_panel?refererPlid=481563",
        "getURLHome": "/web/guest",
        "getUserEmailAddress": "",
        "getUserId": "20120",
        "getUserName": "",
        "isAddSessionIdToURL": False,
        "isFreeformLayout": False,
        "isImpersonated": False,
        "isSignedIn": False,
        "isStateExclusive": False,
        "isStateMaximized": False,
        "isStatePopUp": False,
    }
    lines = [
        f"{name}: function() {{ return {json.dumps(value)}; }}" for name, value in getters.items()
    ]
    lines.append(f"getSessionTimeout: function() {{ return {rng.randint(15, 30)}; }}")
    return "Liferay.ThemeDisplay = {\n\t" + ",\n\t".join(lines) + "\n};"


def _language_keys(rng: random.Random, count: int) -> str:
    words = (
        "xem thêm đóng mở tìm kiếm trang chủ tin tức liên hệ đăng nhập xuất bản chi tiết lưu hủy"
    )
    words = words.split()
    keys = {
        f"{_slug(rng, 2)}-{i}": " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
        for i in range(count)
    }
    return "Liferay.Language._cache = " + json.dumps(keys, ensure_ascii=False) + ";"


def _css(rng: random.Random, rules: int) -> str:
    out = []
    for _ in range(rules):
        selector = " ".join(rng.sample(_CSS_SELECTOR_PARTS, k=rng.randint(1, 3)))
        if rng.random() < 0.3:
            selector += rng.choice((":hover", ":focus", " > a", " li", "::after", ".active"))
        declarations = "; ".join(
            f"{name}: {rng.choice(values)}"
            for name, values in rng.sample(_CSS_PROPERTIES, k=rng.randint(2, 6))
        )
        out.append(f"{selector} {{ {declarations} }}")
    return "\n".join(out)


def _sprite(rng: random.Random) -> str:
    symbols = []
    for name in _ICON_NAMES:
        paths = []
        for _ in range(rng.randint(1, 3)):
            points = " ".join(
                f"{rng.choice('MLCQ')}{rng.randint(0, 512)} {rng.randint(0, 512)}"
                for _ in range(rng.randint(12, 40))
            )
            paths.append(f'<path class="lexicon-icon-outline" d="{points}z"></path>')
        symbols.append(f'<symbol id="{name}" viewBox="0 0 512 512">{"".join(paths)}</symbol>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" style="display: none;" aria-hidden="true">'
        + "".join(symbols)
        + "</svg>"
    )


def _portlet_start_up(rng: random.Random, count: int) -> str:
    blocks = []
    for _ in range(count):
        namespace = f"_com_liferay_{_slug(rng, 2).replace('-', '_')}_portlet_INSTANCE_" + _hex(
            rng, 12
        )
        blocks.append(
            f"AUI().use('{_slug(rng, 2)}', '{_slug(rng, 2)}', function(A) {{\n"
            f"\t(function() {{ var $ = AUI.$; var _ = AUI._;\n"
            f"\t\tLiferay.Portlet.onLoad({{ canEditTitle: false, columnPos: {rng.randint(0, 5)},"
            f" isStatic: 'end', namespacedId: 'p_p_id{namespace}_', portletId: '{namespace[1:]}',"
            f" refreshURL: '/c/portal/render_portlet?p_l_id=481563&p_p_id={namespace[1:]}"
            f"&p_p_lifecycle=0&p_t_lifecycle=0&p_p_state=normal&p_p_mode=view&p_p_col_id=column-1"
            f"&p_p_col_pos={rng.randint(0, 5)}&p_p_col_count={rng.randint(1, 6)}"
            f"&p_p_isolated=1&currentURL=%2F', refreshURLData: {{}} }});\n"
            f"\t\tLiferay.once('allPortletsReady', function() {{ A.one('#p_p_id{namespace}_')"
            f" && A.one('#p_p_id{namespace}_').addClass('{_slug(rng, 2)}'); }});\n"
            f"\t}})();\n}});"
        )
    return "\n".join(blocks)


def _widgets(rng: random.Random) -> str:
    options = ['<option value="">-- Liên kết website --</option>']
    groups = (
        ("Sở, ban, ngành tỉnh", _PROVINCE_SITES, "dongthap.gov.vn"),
        ("Huyện, thành phố", _DISTRICTS, "dongthap.gov.vn"),
        ("Phường, xã", _WARDS, "sadec.dongthap.gov.vn"),
    )
    for label, names, domain in groups:
        options.append(f'<optgroup label="{label}">')
        for name in names:
            host = "".join(c for c in name.lower() if c.isascii() and c.isalnum())[:16] or "x"
            options.append(f'<option value="https://{host}.{domain}/">{name}</option>')
        options.append("</optgroup>")
    gallery = "".join(
        f'<div class="gallery-item"><img alt="Hình ảnh hoạt động {i}" loading="lazy" '
        f'src="/o/sadec-theme/images/gallery/{_hex(rng, 8)}.jpg" width="240" height="160" />'
        f'<span class="gallery-caption">Hình ảnh hoạt động {i}</span></div>'
        for i in range(1, 25)
    )
    banners = "".join(
        f'<div class="banner-item"><a href="https://{host}/" rel="noopener" target="_blank">'
        f'<img alt="{alt}" src="/o/sadec-theme/images/banners/{_hex(rng, 8)}.png" /></a></div>'
        for host, alt in (
            ("dichvucong.gov.vn", "Cổng dịch vụ công quốc gia"),
            ("dichvucong.dongthap.gov.vn", "Dịch vụ công trực tuyến Đồng Tháp"),
            ("chinhphu.vn", "Cổng thông tin điện tử Chính phủ"),
            ("dongthap.gov.vn", "Cổng thông tin điện tử tỉnh Đồng Tháp"),
            ("vanban.chinhphu.vn", "Hệ thống văn bản"),
            ("baodongthap.vn", "Báo Đồng Tháp"),
        )
    )
    digits = "".join(
        f'<span class="digit digit-{d}">{d}</span>' for d in str(rng.randint(10**7, 10**8))
    )
    return (
        '<div class="portal-widgets container" role="complementary">'
        '<div class="widget site-links"><div class="widget-title">Liên kết website</div>'
        '<select aria-label="Liên kết website" class="form-control" '
        "onchange=\"if (this.value) window.open(this.value, '_blank');\">"
        + "".join(options)
        + "</select></div>"
        '<div class="widget gallery-strip"><div class="widget-title">Hình ảnh hoạt động</div>'
        + gallery
        + "</div>"
        '<div class="widget banners">' + banners + "</div>"
        '<div class="widget visitor-counter"><div class="widget-title">Lượt truy cập</div>'
        f'<div class="counter">{digits}</div>'
        '<div class="counter-online">Đang trực tuyến: <span class="digit">'
        f"{rng.randint(10, 99)}</span></div></div>"
        "</div>"
    )


@functools.cache
def chrome() -> dict[str, Markup]:
    """``head`` (styles and scripts), ``sprite`` (after ``<body>``), ``widgets`` (after the
    content) and ``scripts`` (before ``</body>``), about 170 KB together."""
    rng = random.Random(_SEED)
    auth_token = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(8))
    head_script = "\n".join(
        (
            "var Liferay = Liferay || {};",
            "Liferay.Browser = { acceptsGzip: function() { return true; }, getMajorVersion:"
            " function() { return 0; }, isIe: function() { return false; } };",
            "Liferay.Data = { ICONS_INLINE_SVG: true, NAV_SELECTOR: '#navigation',"
            " NAV_SELECTOR_MOBILE: '#navigationCollapse', isCustomizationView: function() {"
            " return false; }, notices: [null] };",
            _theme_display(rng),
            "var themeDisplay = Liferay.ThemeDisplay;",
            f"Liferay.authToken = '{auth_token}';",
            "Liferay.AUI = { getAvailableLangPath: function() { return"
            " 'available_languages.jsp?browserId=other&themeId=sadectheme_WAR_sadectheme"
            "&colorSchemeId=01&languageId=vi_VN&b=7006'; }, getCombine: function() {"
            " return true; }, getComboPath: function() { return '/combo/?browserId=other"
            "&minifierType=&languageId=vi_VN&b=7006&'; }, getFilter: function() {"
            " return 'min'; }, getJavaScriptRootPath: function() { return '/o/frontend-js-web';"
            " }, getLangPath: function() { return 'aui_lang.jsp?browserId=other"
            "&themeId=sadectheme_WAR_sadectheme&colorSchemeId=01&languageId=vi_VN&b=7006'; } };",
            "var __CONFIG__ = { basePath: '', combine: true, maps: {}, paths: {},"
            " url: '/combo?browserId=other&minifierType=js&languageId=vi_VN&b=7006&t=1" + "' };",
            "__CONFIG__.modules = " + json.dumps(_module_map(rng, 180)) + ";",
            _language_keys(rng, 260),
        )
    )
    head = (
        '<meta content="text/html; charset=UTF-8" http-equiv="content-type" />\n'
        '<script data-senna-track="permanent" src="/combo?browserId=other&amp;minifierType=js'
        "&amp;languageId=vi_VN&amp;b=7006&amp;t=1599120000000&amp;/o/frontend-js-web/jquery/"
        'jquery.js&amp;/o/frontend-js-web/aui/aui/aui.js" type="text/javascript"></script>\n'
        '<script data-senna-track="temporary" type="text/javascript">\n// <![CDATA[\n'
        + head_script
        + "\n// ]]>\n</script>\n"
        '<style data-senna-track="temporary" type="text/css">\n' + _css(rng, 280) + "\n</style>\n"
    )
    scripts = (
        '<script type="text/javascript">\n// <![CDATA[\n'
        "Liferay.Util.addInputFocus();\n"
        + _portlet_start_up(rng, 28)
        + "\nAUI().use('liferay-menu', 'liferay-notice', 'aui-base', 'liferay-session',"
        " function(A) { (function() { new Liferay.Menu(); var liferayNotices = Liferay.Data"
        ".notices; for (var i = 1; i < liferayNotices.length; i++) { new Liferay.Notice("
        "liferayNotices[i]); } })(); });\n"
        "window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}"
        " gtag('js', new Date()); gtag('config', 'UA-" + str(rng.randint(10**7, 10**8)) + "-1');"
        "\n// ]]>\n</script>\n"
    )
    return {
        "head": Markup(head),
        "sprite": Markup(_sprite(rng)),
        "widgets": Markup(_widgets(rng)),
        "scripts": Markup(scripts),
    }
