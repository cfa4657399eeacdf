"""Escaping of log-derived text, shared by the HTML and the Markdown output.

HTML: `fill` fills `string.Template` templates and HTML-escapes every value (`esc`) unless it
is an `Html` fragment (the same auto-escaping idea as jinja2's Markup). Markdown: every
log-derived string goes through `md`, which backslash-escapes Markdown syntax and `<`/`>` (so
no raw HTML reaches a renderer). Cypher goes into code blocks whose fence is longer than any
backtick run inside (`fence`).

Bidirectional text: both `esc` and `md` show the Unicode bidi controls (U+202E RIGHT-TO-LEFT
OVERRIDE and the like) as their code point, `[U+202E]`, instead of letting them reorder what
follows; in Cypher they become `\u202e` escapes inside the string literals (the same query,
`cypher_text`). Hosts are isolated from the text around them: in HTML each is a `<bdi>`
element (`graphnet.reports.html`), in Markdown a host holding right-to-left letters is wrapped
in U+2068 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE (`md_host`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from string import Template
from typing import Any

#: characters that change the direction of the text around them (embeddings, overrides,
#: isolates, marks): shown by their code point, never obeyed
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: the same, and the control characters a terminal obeys when the file is shown there (C0 but
#: tab and newline, DEL, C1): shown by their code point too
_SHOWN_AS_CODE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_FSI, _PDI = "\u2068", "\u2069"


def visible_controls(text: str) -> str:
    """`text` with every bidi and control character (but tab and newline) shown as
    `[U+XXXX]`."""
    return _SHOWN_AS_CODE.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def cypher_text(query: str) -> str:
    """A Cypher query with the bidi controls of its string literals written as `\\uXXXX`
    escapes: the same query, shown as it reads (graphnet puts log text in Cypher only inside
    string literals)."""
    return _BIDI_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", query)


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


class Html(str):
    """HTML that is safe to insert as is (built by this module from escaped parts). Adding
    anything to it escapes that first."""

    def __add__(self, other: str) -> Html:
        return Html(str.__add__(self, esc(other)))


def esc(value: Any) -> Html:
    """HTML-escape a value (quotes too); `Html` fragments pass unchanged."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(visible_controls("" if value is None else str(value)), quote=True))


def fill(template: Template, **values: Any) -> Html:
    """Fill a template; every value is escaped unless it is an `Html` fragment."""
    return Html(template.substitute({k: esc(v) for k, v in values.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


class Md(str):
    """Markdown that is safe to insert as is."""


_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]()#+!|<>&~^])")
_MD_LEADING = re.compile(r"^(\s*)([-=])|^(\s*\d+)([.)])")


def md(value: Any) -> Md:
    """Markdown-escape a log-derived string: Markdown punctuation and `<`, `>`, `&` get a
    backslash (CommonMark renders them literally), line breaks become spaces, and a leading
    list or heading marker is escaped."""
    if isinstance(value, Md):
        return value
    s = visible_controls("" if value is None else str(value))
    s = re.sub(r"[\r\n\u2028\u2029]+", " ", s)
    s = _MD_ESCAPE.sub(r"\\\1", s)
    s = _MD_LEADING.sub(
        lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}",
        s,
    )
    return Md(s)


def md_host(host: Any) -> Md:
    """A host id for Markdown: escaped, and isolated from the text around it (between FSI and
    PDI) when it holds right-to-left letters, so that it cannot reorder its neighbours."""
    s = md(host)
    return Md(f"{_FSI}{s}{_PDI}") if _has_rtl(s) else s


def md_pair(src: Any, dst: Any) -> Md:
    return Md(f"{md_host(src)} → {md_host(dst)}")


def mdfill(template: Template, **values: Any) -> Md:
    return Md(template.substitute({k: md(v) for k, v in values.items()}))


def fence(code: str, lang: str = "cypher") -> Md:
    """A fenced code block that no backtick run inside `code` can close (bidi controls of
    Cypher string literals written as escapes)."""
    code = cypher_text(code) if lang == "cypher" else visible_controls(code)
    longest = max((len(m) for m in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return Md(f"{ticks}{lang}\n{code}\n{ticks}")
