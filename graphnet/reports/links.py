"""Cypher for Neo4j Browser and the links that open it: the query of a host, a pair's edges or
a finding, and `browser_link` (`<browser>?cmd=edit&arg=<query>`) for the Browser address
`resolve_browser_url` finds. Log text enters the queries only as Cypher string literals."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterable, Sequence

from graphnet.config import Settings
from graphnet.findings import cypher_literal

cypher_string = cypher_literal


def _list_literal(values: Iterable[str]) -> str:
    return "[" + ", ".join(cypher_string(v) for v in values) + "]"


def host_query(host: str, window: str) -> str:
    """Cypher: a host's conversations in a window."""
    return (
        f"MATCH p = (h:Host {{id: {cypher_string(host)}}})"
        f"-[r:TALKED {{window: {cypher_string(window)}}}]-(:Host)\n"
        "RETURN p ORDER BY r.conns DESC LIMIT 200"
    )


def edge_query(src: str, dst: str, windows_: Sequence[str]) -> str:
    """Cypher: the TALKED edges of one directed pair in some windows."""
    return (
        f"MATCH p = (a:Host {{id: {cypher_string(src)}}})-[r:TALKED]->"
        f"(b:Host {{id: {cypher_string(dst)}}})\n"
        f"WHERE r.window IN {_list_literal(windows_)}\n"
        "RETURN p"
    )


def finding_query(finding_id: str) -> str:
    """Cypher: a finding with the hosts it is about and their edges in its window."""
    return (
        f"MATCH (f:Finding {{id: {cypher_string(finding_id)}}})-[a:ABOUT]->(h:Host)\n"
        "OPTIONAL MATCH e = (h)-[:TALKED {window: f.window}]->(:Host)<-[:ABOUT]-(f)\n"
        "RETURN f, a, h, e"
    )


def normalise_browser_url(url: str | None) -> str | None:
    """`http://host:7474` or `.../browser` -> `http://host:7474/browser/`."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path or "/"
    if path in ("", "/"):
        path = "/browser/"
    if not path.endswith("/"):
        path += "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def browser_link(base: str | None, query: str) -> str | None:
    """`<base>?cmd=edit&arg=<query>`: opens Neo4j Browser with the query in its editor."""
    b = normalise_browser_url(base)
    if not b or not query:
        return None
    return f"{b}?cmd=edit&arg={urllib.parse.quote(query, safe='')}"


def resolve_browser_url(settings: Settings, browser_url: str | None = None) -> str | None:
    """The Neo4j Browser address for links: the one given, else $GRAPHNET_BROWSER_URL, else
    graphnet's local Neo4j (when it is the configured server)."""
    if browser_url:
        return normalise_browser_url(browser_url)
    env = os.environ.get("GRAPHNET_BROWSER_URL")
    if env:
        return normalise_browser_url(env)
    try:
        from graphnet import browser

        info = browser.browser_address(settings)
    except Exception:  # no local server, unreadable state: links are optional
        return None
    return normalise_browser_url(info)
