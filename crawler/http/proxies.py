"""Which proxy a request goes through: `--proxy`, or the standard environment variables.

`--proxy URL` sends every request through one HTTP proxy. Without it, `HTTP_PROXY` serves
`http://` URLs and `HTTPS_PROXY` `https://` ones (lower-case names too, and they win, as curl and
Python's `urllib` read them). `NO_PROXY` names hosts reached directly either way (`host`,
`.domain`, `host:port`, or `*`), as curl and requests read it. The
routes are resolved once, when the crawl's settings are made, so every strategy, process and
fleet worker of one crawl takes the same ones; robots.txt goes the same way as the pages.

A proxy URL may carry credentials (`http://user:password@host:3128`): they are sent as
`Proxy-Authorization`, and they are masked (`***`) wherever a proxy is named.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import SplitResult, unquote, urlsplit

from command_kit.secrets import redacted_url as shown

# A crawl's routes: ("http", proxy), ("https", proxy), ("no", NO_PROXY's hosts), each if set.
Routes = tuple[tuple[str, str], ...]


def proxy_problem(url: str) -> str | None:
    """Say what is wrong with a proxy URL (None: nothing): it must be http://HOST[:PORT]."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"{shown(url)} is not a URL: {error}"
    if parts.scheme != "http":
        return f"{shown(url)}: only http:// proxies are supported"
    if not parts.hostname:
        return f"{shown(url)} names no host"
    if port == 0 or parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"{shown(url)}: a proxy is http://[USER:PASSWORD@]HOST[:PORT], nothing more"
    return None


def routes_from(proxy: str | None, environment: Mapping[str, str] | None = None) -> Routes:
    """Return the routes of a crawl: `proxy` for every scheme if given, else the environment's.

    A variable without a scheme (`proxy.example:3128`) means http://, as requests reads it.
    Raises ValueError naming the variable whose proxy URL is unusable.
    """
    found = urllib.request.getproxies_environment() if environment is None else _read(environment)
    routes: dict[str, str] = {}
    for scheme in ("http", "https"):
        given = proxy if proxy is not None else found.get(scheme)
        if not given:
            continue
        url = given if "://" in given else f"http://{given}"
        problem = proxy_problem(url)
        if problem is not None:
            raise ValueError(
                problem if proxy is not None else f"${scheme.upper()}_PROXY: {problem}"
            )
        routes[scheme] = url
    if found.get("no"):
        routes["no"] = found["no"]
    return tuple(sorted(routes.items()))


def _read(environment: Mapping[str, str]) -> dict[str, str]:
    """Read proxy variables from `environment` as `urllib` reads `os.environ`: lower case wins."""
    found: dict[str, str] = {}
    for name, value in environment.items():
        if name.upper().endswith("_PROXY") and value and name.isupper():
            found[name[:-6].lower()] = value
    for name, value in environment.items():
        if name.endswith("_proxy") and value and name.islower():
            found[name[:-6]] = value
    return found


def proxy_for(routes: Routes, url: str) -> str | None:
    """Return the proxy `url` goes through, or None to go directly."""
    if not routes:
        return None
    table = dict(routes)
    parts = urlsplit(url)
    proxy = table.get(parts.scheme)
    if proxy is None:
        return None
    no_proxy = table.get("no")
    if no_proxy and bypassed(parts.hostname or "", parts.port, no_proxy):
        return None
    return proxy


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Say whether NO_PROXY names `host` (and `port`): `*`, the host itself, a domain it is in
    (`example.org` or `.example.org` for `www.example.org`), or either with `:PORT`."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        name, _, entry_port = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if entry_port and str(port) != entry_port:
            continue
        name = name.lstrip("*").lstrip(".").rstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _has_port(entry: str) -> bool:
    """Say whether a NO_PROXY entry ends in `:PORT` (an IPv6 address has colons of its own)."""
    head, colon, tail = entry.rpartition(":")
    return bool(colon) and tail.isdigit() and (not head.startswith("[") or head.endswith("]"))


def credentials(proxy: str) -> tuple[str, str] | None:
    """Return a proxy URL's user and password (unquoted), or None when it has none."""
    parts = urlsplit(proxy)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def without_credentials(proxy: str) -> str:
    """Return the proxy URL with its credentials taken out (for clients given them apart)."""
    parts = urlsplit(proxy)
    return _with_netloc(parts, _host_port(parts))


def _host_port(parts: SplitResult) -> str:
    return parts.netloc.rsplit("@", 1)[-1]


def _with_netloc(parts: SplitResult, netloc: str) -> str:
    return parts._replace(netloc=netloc).geturl()
