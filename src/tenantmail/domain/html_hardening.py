"""``htmlBody`` through an allow-list suited to email (SPEC §17 "HTML hardening").

What transactional email needs stays: document structure (``html``/``head``/``body``, ``meta``
without ``http-equiv``, ``title``, ``style`` elements), tables and their layout attributes, text
formatting, links and images over http(s), ``mailto:``, ``tel:`` and ``cid:``, inline styles
limited to presentational properties. What can run code or leave the message goes: ``script``,
``iframe``, ``object``/``embed``, ``form`` and its controls, ``base``, ``link``, every ``on*``
handler, ``javascript:``/``data:``/``vbscript:`` URLs, CSS ``expression()``, ``behavior``,
``-moz-binding``, ``@import`` and ``url()`` to other schemes.

Two readers decide together whether anything would be removed, so a parser differential cannot
smuggle markup through:

* a walk over the HTML (the standard library's tokenizer) lists every element, attribute, URL and
  style property outside the allow-list — this list is what a rejection names; and
* nh3 (ammonia, html5ever's parser) cleans the HTML with the same allow-list, comments kept; the
  elements and attribute names it keeps must be those the walk saw (as multisets) and the comments
  the same comments, or the two parsers read the markup differently (``<!--><script>…`` is a
  comment to one and a script to the other) and it counts as changed.

Nothing flagged by either: the caller's HTML is sent **byte for byte** (no re-serialisation: real
templates pass unchanged). Otherwise :data:`HtmlPolicy.REJECT` (the default) raises InvalidInput
naming what would be removed, and :data:`HtmlPolicy.SANITIZE` sends nh3's output and says so.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser

import nh3

from tenantmail.domain.errors import InvalidInput


class HtmlPolicy(StrEnum):
    REJECT = "reject"  #: 400 naming what the sanitizer would remove
    SANITIZE = "sanitize"  #: send the sanitizer's output; the job records that it changed


#: Elements dropped by html5ever's fragment parsing (their children stay): not reported.
STRUCTURE = frozenset({"html", "head", "body"})
#: Elements inserted by html5ever's tree construction: not compared.
IMPLIED = frozenset({"tbody"})
TAGS = frozenset({
    "a", "abbr", "address", "b", "bdi", "bdo", "big", "blockquote", "br", "caption", "center", "cite",
    "code", "col", "colgroup", "dd", "del", "dfn", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "meta", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strike", "strong", "style", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "title", "tr", "tt", "u", "ul", "var", "wbr", "section", "header", "footer", "article",
    "main", "nav", "figure", "figcaption", "picture", "source",
})
GENERIC_ATTRIBUTES = frozenset({
    "style", "class", "id", "dir", "lang", "title", "align", "valign", "bgcolor", "width", "height",
    "role", "aria-label", "aria-hidden", "border",
})
ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "name", "target", "rel"}),
    "img": frozenset({"src", "alt", "hspace", "vspace"}),
    "table": frozenset({"cellpadding", "cellspacing", "background", "summary"}),
    "td": frozenset({"colspan", "rowspan", "nowrap", "background", "headers", "scope"}),
    "th": frozenset({"colspan", "rowspan", "nowrap", "background", "headers", "scope"}),
    "col": frozenset({"span"}), "colgroup": frozenset({"span"}),
    "font": frozenset({"color", "face", "size"}),
    "meta": frozenset({"charset", "name", "content"}),
    "ol": frozenset({"start", "type"}), "ul": frozenset({"type"}), "li": frozenset({"value"}),
    "style": frozenset({"type", "media"}),
    "source": frozenset({"srcset", "media", "type"}),
    "html": frozenset({"xmlns", "xmlns:v", "xmlns:o", "xml:lang"}),
    "blockquote": frozenset({"cite"}), "q": frozenset({"cite"}), "del": frozenset({"cite"}), "ins": frozenset({"cite"}),
}
URL_ATTRIBUTES = frozenset({"href", "src", "background", "cite", "srcset"})
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
STYLE_PROPERTIES = frozenset({
    "background", "background-color", "background-image", "background-position", "background-repeat",
    "background-size", "border", "border-bottom", "border-bottom-color", "border-bottom-left-radius",
    "border-bottom-right-radius", "border-bottom-style", "border-bottom-width", "border-collapse", "border-color",
    "border-left", "border-left-color", "border-left-style", "border-left-width", "border-radius", "border-right",
    "border-right-color", "border-right-style", "border-right-width", "border-spacing", "border-style",
    "border-top", "border-top-color", "border-top-left-radius", "border-top-right-radius", "border-top-style",
    "border-top-width", "border-width", "box-sizing", "caption-side", "clear", "color", "direction", "display",
    "float", "font", "font-family", "font-size", "font-style", "font-variant", "font-weight", "height",
    "letter-spacing", "line-height", "list-style", "list-style-position", "list-style-type", "margin",
    "margin-bottom", "margin-left", "margin-right", "margin-top", "max-height", "max-width", "min-height",
    "min-width", "mso-hide", "mso-line-height-rule", "mso-table-lspace", "mso-table-rspace", "opacity",
    "outline", "overflow", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "table-layout", "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
    "visibility", "white-space", "width", "word-break", "word-spacing", "word-wrap", "overflow-wrap",
    "-webkit-text-size-adjust", "-ms-text-size-adjust",
})
#: CSS that can run code, fetch more CSS or bind behaviour, in a style attribute or element.
_DANGEROUS_CSS = re.compile(r"expression\s*\(|behavior\s*:|-moz-binding|@import|javascript:|vbscript:", re.I)
_CSS_URL = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.I)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.S)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.I)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f]+")  #: what browsers skip inside a URL's scheme
MOST_REPORTED = 20


@dataclass(frozen=True)
class HardenedHtml:
    html: str
    sanitized: bool  #: ``html`` is the sanitizer's output, not the caller's


def harden_html(html: str, policy: HtmlPolicy) -> HardenedHtml:
    """The HTML to send, or InvalidInput (policy ``reject``) naming what would be removed."""
    removed = findings(html)
    if not removed:
        return HardenedHtml(html, sanitized=False)
    if policy is HtmlPolicy.REJECT:
        shown = removed[:MOST_REPORTED] + ([f"… {len(removed) - MOST_REPORTED} more"] if len(removed) > MOST_REPORTED else [])
        raise InvalidInput("htmlBody has markup the sanitizer would remove: " + "; ".join(shown),
                           removed=removed[:MOST_REPORTED])
    return HardenedHtml(_cleaner(strip_style_elements=_has_dangerous_style_element(html)).clean(html), sanitized=True)


def findings(html: str) -> list[str]:
    """What would be removed, in document order (each finding once); empty when nothing would."""
    walk = _Walk()
    walk.feed(html)
    walk.close()
    removed = list(dict.fromkeys(walk.removed))
    if not removed:
        kept = _Walk()
        kept.feed(_KEEP_COMMENTS.clean(html))
        kept.close()
        if _compared(kept.elements) != _compared(walk.elements) or kept.comments != walk.comments:
            removed.append("markup the sanitizer reads differently (malformed or ambiguous HTML)")
    return removed


def _compared(elements: Counter[tuple[str, frozenset[str]]]) -> Counter[tuple[str, frozenset[str]]]:
    return Counter({k: n for k, n in elements.items() if k[0] not in STRUCTURE and k[0] not in IMPLIED})


def _cleaner(*, strip_style_elements: bool = False, strip_comments: bool = True) -> nh3.Cleaner:
    tags = set(TAGS) - ({"style"} if strip_style_elements else set())
    attributes = {tag: set(names) for tag, names in ATTRIBUTES.items() if tag in tags}
    attributes["*"] = set(GENERIC_ATTRIBUTES)
    return nh3.Cleaner(
        tags=tags, clean_content_tags={"script", "style"} - tags, attributes=attributes,
        attribute_filter=_attribute_filter, strip_comments=strip_comments, link_rel=None,
        url_schemes=set(URL_SCHEMES), filter_style_properties=set(STYLE_PROPERTIES),
    )


def _attribute_filter(tag: str, name: str, value: str) -> str | None:
    """nh3's last word on an allowed attribute: a style with dangerous CSS goes whole."""
    if name == "style" and _css_problem(value):
        return None
    if name in URL_ATTRIBUTES and _url_problem(value):
        return None
    return value


_KEEP_COMMENTS = _cleaner(strip_comments=False)


def _url_problem(value: str) -> str | None:
    """The scheme of a URL outside the allow-list (relative URLs have none)."""
    candidates = [part.strip().split(" ")[0] for part in value.split(",")] if "," in value else [value]
    for url in candidates:
        scheme = _SCHEME.match(_INVISIBLE.sub("", url))
        if scheme and scheme.group(1).lower() not in URL_SCHEMES:
            return scheme.group(1).lower()
    return None


def _css_problem(css: str) -> str | None:
    css = _CSS_ESCAPE.sub(_unescaped, _CSS_COMMENT.sub("", css))  # what the CSS parser will read
    dangerous = _DANGEROUS_CSS.search(css)
    if dangerous:
        return dangerous.group(0).rstrip("( :").lower()
    for url in _CSS_URL.findall(css):
        scheme = _url_problem(url)
        if scheme:
            return f"url({scheme}:)"
    return None


def _unescaped(escape: re.Match[str]) -> str:
    if escape.group(1):
        code = int(escape.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return escape.group(2)


def _has_dangerous_style_element(html: str) -> bool:
    walk = _Walk()
    walk.feed(html)
    walk.close()
    return walk.dangerous_style_element


class _Walk(HTMLParser):
    """Every element with its attribute names, and what the allow-list would remove."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: Counter[tuple[str, frozenset[str]]] = Counter()
        self.removed: list[str] = []
        self.dangerous_style_element = False
        self.comments: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements[(tag, frozenset(name for name, _ in attrs))] += 1
        # html/head/body: dropped by the sanitizer's fragment parse with their children kept, so not
        # reported themselves; their attributes are checked as any element's
        if tag not in TAGS and tag not in STRUCTURE:
            self.removed.append(f"<{tag}> element")
            return
        self._in_style = tag == "style"
        allowed = ATTRIBUTES.get(tag, frozenset()) | GENERIC_ATTRIBUTES
        for name, value in attrs:
            if name not in allowed:
                self.removed.append(f"{name} attribute on <{tag}>")
            elif name in URL_ATTRIBUTES and (scheme := _url_problem(value or "")):
                self.removed.append(f"{scheme}: URL in {name} of <{tag}>")
            elif name == "style":
                self._style(tag, value or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and (problem := _css_problem(data)):
            self.dangerous_style_element = True
            self.removed.append(f"{problem} in a <style> element")

    def handle_comment(self, data: str) -> None:
        """Conditional comments (``<!--[if mso]>…<![endif]-->``) are markup to Outlook: walked too."""
        self.comments.append(data)
        if data.lstrip().lower().startswith("[if"):
            inner = _Walk()
            inner.feed(data)
            inner.close()
            self.removed.extend(inner.removed)
            self.dangerous_style_element |= inner.dangerous_style_element

    def _style(self, tag: str, css: str) -> None:
        problem = _css_problem(css)
        if problem:
            self.removed.append(f"{problem} in the style of <{tag}>")
            return
        for declaration in css.split(";"):
            name = declaration.partition(":")[0].strip().lower()
            if name and name not in STYLE_PROPERTIES:
                self.removed.append(f"style property {name} on <{tag}>")
