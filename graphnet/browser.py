"""Exploring the graph in Neo4j Browser: where it is, how to log in, the saved queries, the style.

`browser_info(settings)` gathers what `graphnet browser` prints (`browser_text`): the Browser
address, the user and *where* the password is (never the password itself), the saved queries of
`graphnet/cypher/browser/` with their descriptions and parameters, and the style sheet
`graphnet/cypher/style.grass`. The labels that style draws (Internal / External, PageRankTop1/5/20)
are given by the analysis step `browser_labels` (`graphnet.detectors.labels`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from graphnet.config import Settings

log = logging.getLogger(__name__)

RANK_LABELS = ("PageRankTop1", "PageRankTop5", "PageRankTop20")
ROLE_LABELS = ("Internal", "External")


@dataclass(frozen=True)
class SavedQuery:
    """One file of graphnet/cypher/browser/: its name (first comment line), what it shows, the
    Browser `:param` lines it needs, and its text (comment header included, ready for
    Favorites)."""

    name: str
    file: str
    title: str
    description: str
    params: list[str] = field(default_factory=list)
    text: str = ""

    @property
    def parameters(self) -> list[str]:
        """The parameter names it uses ($host, $window, ...)."""
        out = []
        for p in self.params:
            rest = p.split(":param", 1)[-1].strip()
            name = rest.split("=>", 1)[0].strip()
            if name:
                out.append(name)
        return out


def queries_dir() -> Path:
    """The folder of the saved Browser queries (package data)."""
    return Path(str(resources.files("graphnet.cypher").joinpath("browser")))


def style_path() -> Path:
    """The Neo4j Browser style sheet (GraSS)."""
    return Path(str(resources.files("graphnet.cypher").joinpath("style.grass")))


def parse_saved_query(path: Path) -> SavedQuery:
    """Read a saved query's comment header: `// Title`, `// Shows: ...`, `// Parameters: ...`."""
    text = path.read_text("utf-8")
    title = ""
    description = []
    params = []
    for line in text.splitlines():
        s = line.strip()
        if not s.startswith("//"):
            break
        body = s[2:].strip()
        if not title:
            title = body
        elif body.lower().startswith("shows:"):
            description.append(body[6:].strip())
        elif body.lower().startswith("parameters:"):
            params.append(body[11:].strip())
        elif body:
            description.append(body)
    return SavedQuery(
        name=path.stem,
        file=str(path),
        title=title or path.stem,
        description=" ".join(description),
        params=params,
        text=text,
    )


def saved_queries() -> list[SavedQuery]:
    """The saved queries shipped in graphnet/cypher/browser/, by file name."""
    d = queries_dir()
    if not d.is_dir():
        return []
    return [parse_saved_query(p) for p in sorted(d.glob("*.cypher"))]


def _local_status(settings: Settings) -> Any:
    from graphnet import neo4j_local

    instance = os.environ.get(neo4j_local.INSTANCE_ENV) or neo4j_local.DEFAULT_INSTANCE
    return neo4j_local.status(settings.home, instance)


def browser_address(settings: Settings) -> str | None:
    """The Neo4j Browser address: $GRAPHNET_BROWSER_URL, else graphnet's local Neo4j (when
    NEO4J_URI does not name another server and the local one has an HTTP port)."""
    env = os.environ.get("GRAPHNET_BROWSER_URL")
    if env:
        return env
    if os.environ.get("NEO4J_URI"):
        return None
    try:
        st = _local_status(settings)
    except Exception:
        return None
    return str(st.browser_url) if st.browser_url else None


def browser_info(settings: Settings) -> dict[str, Any]:
    """What `graphnet browser` shows, as data: url, running, connect_url, user, password
    (where it is, never the value), password_command, queries (name, title, description,
    params, file), queries_dir, style (path of style.grass), labels."""
    info: dict[str, Any] = {
        "url": None,
        "running": None,
        "server": "",
        "connect_url": None,
        "user": "neo4j",
        "password": "",
        "password_command": None,
        "notes": [],
    }
    uri = os.environ.get("NEO4J_URI")
    if uri:
        info["server"] = "the server named by NEO4J_URI"
        info["connect_url"] = uri
        info["user"] = os.environ.get("NEO4J_USER", "neo4j")
        pw_file = os.environ.get("NEO4J_PASSWORD_FILE")
        if pw_file:
            info["password"] = f"in the file {pw_file} (NEO4J_PASSWORD_FILE)"
        elif os.environ.get("NEO4J_PASSWORD"):
            info["password"] = "the value of the NEO4J_PASSWORD environment variable"
        else:
            info["password"] = "not configured (set NEO4J_PASSWORD_FILE or NEO4J_PASSWORD)"
        info["url"] = os.environ.get("GRAPHNET_BROWSER_URL")
        if not info["url"]:
            info["notes"].append(
                "the Browser address of that server is not known: set GRAPHNET_BROWSER_URL "
                "(e.g. http://host:7474/browser/) so that reports link to it"
            )
    else:
        from graphnet import neo4j_local

        info["server"] = "graphnet's local Neo4j"
        try:
            st = _local_status(settings)
        except Exception as exc:
            st = None
            info["notes"].append(f"cannot read the local Neo4j's state: {exc}")
        if st is not None:
            info["running"] = bool(st.running)
            info["url"] = os.environ.get("GRAPHNET_BROWSER_URL") or st.browser_url
            info["connect_url"] = st.bolt_uri
            pw = neo4j_local.instance_dir(settings.home, st.instance) / "password"
            info["password"] = f"in the file {pw}"
            info["password_command"] = "graphnet neo4j password"
            if not st.running:
                info["notes"].append(
                    "the local Neo4j is not running: start it with `graphnet neo4j start`"
                )
    info["queries"] = [
        {k: v for k, v in asdict(q).items() if k != "text"} | {"parameters": q.parameters}
        for q in saved_queries()
    ]
    info["queries_dir"] = str(queries_dir())
    info["style"] = str(style_path())
    info["labels"] = {
        "Internal / External": "hosts inside / outside the internal networks (colour)",
        "PageRankTop1 / PageRankTop5 / PageRankTop20": "hosts in the top 1 / 5 / 20 % by "
        "PageRank in the latest analysed window's snapshot (size)",
    }
    return info


def browser_text(info: dict[str, Any]) -> str:
    """`browser_info` as the text `graphnet browser` prints."""
    lines = []
    if info.get("url"):
        state = "" if info.get("running") in (None, True) else " (not running)"
        lines.append(f"Neo4j Browser: {info['url']}{state}")
    else:
        lines.append("Neo4j Browser: address unknown")
    if info.get("server"):
        lines.append(f"  server:   {info['server']}")
    if info.get("connect_url"):
        lines.append(f"  connect:  {info['connect_url']}")
    lines.append(f"  user:     {info['user']}")
    lines.append(f"  password: {info['password'] or 'unknown'}")
    if info.get("password_command"):
        lines.append(f"            (show it with `{info['password_command']}`)")
    for n in info.get("notes", []):
        lines.append(f"  note: {n}")
    lines.append("")
    lines.append(f"Saved queries ({info['queries_dir']}):")
    lines.append(
        "  Add them to Browser Favorites (drag the .cypher files onto the Favorites "
        "drawer), set their parameters with the :param lines, then run them."
    )
    for q in info.get("queries", []):
        lines.append(f"  {q['title']}  [{Path(q['file']).name}]")
        if q.get("description"):
            lines.append(f"      {q['description']}")
        for p in q.get("params", []):
            lines.append(f"      {p}")
    lines.append("")
    lines.append(f"Style: {info['style']}")
    lines.append(
        "  Drag the file onto the Browser window to colour internal and external hosts "
        "and findings and to size hosts by PageRank."
    )
    for label, what in info.get("labels", {}).items():
        lines.append(f"  {label}: {what}")
    return "\n".join(lines)
