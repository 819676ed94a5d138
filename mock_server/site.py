"""The pure model of a generated site: its pages, their links, and the response to any URL.

No I/O happens here. Given settings and the origins it is served on, a `Site` answers what any URL
returns (status, headers, body, and how the connection should misbehave), which is all the HTTP
layer needs, and which links every page carries, which is all the crawl oracle needs.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import gzip
import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from yarl import URL

from mock_server import hostile, html_pages, text
from mock_server.faults import HOSTILE_FAULTS, TRANSIENT_FAULTS, FaultKind, FaultPlan
from mock_server.latency import uniform_draw
from mock_server.server_settings import SiteSettings

SECTIONS = 8
EXTERNAL_HOST = "external.invalid"
TRAP_START = (2026, 1)
REDIRECT_CODES = (301, 302, 307, 308)
CHAIN_LENGTH = 3
_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


class Action(enum.Enum):
    """How the HTTP layer delivers a response."""

    SEND = "send"
    HANG = "hang"  # never answer
    RESET = "reset"  # send the headers and half the body, then reset the connection
    TRUNCATE = "truncate"  # promise the full Content-Length, send less, then close
    ENDLESS = "endless"  # send the body over and over, chunked, until the client leaves
    DRIP = "drip"  # send the body one byte a second
    RAW = "raw"  # the body is a whole HTTP response, written to the socket as it is


@dataclass(frozen=True, slots=True)
class SiteResponse:
    """What the site answers to one request."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    action: Action = Action.SEND


@dataclass(frozen=True, slots=True)
class Link:
    """An in-site link a page carries, by the absolute URL it resolves to."""

    url: str
    nofollow: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """What a URL names on the site: a kind of resource and its numbers."""

    kind: str
    number: int = 0
    extra: int = 0


_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("page", r"/section-(\d+)/page-(\d+)\.html"),
        ("item", r"/section-(\d+)/item\?id=(\d+)"),
        ("print", r"/section-(\d+)/page-(\d+)\.html\?print=1"),
        ("moved", r"/moved/(\d+)"),
        ("chain", r"/chain/(\d+)/(\d+)"),
        ("loop", r"/loop/(\d+)/([ab])"),
        ("away", r"/away/(\d+)"),
        ("landing", r"/landing/(\d+)\.html"),
        ("slow", r"/slow/(\d+)"),
        ("image", r"/media/image-(\d+)\.png"),
        ("pdf", r"/media/doc-(\d+)\.pdf"),
        ("calendar", r"/calendar/(\d{4})/(\d{2})/"),
        ("private", r"/private/doc-(\d+)\.html"),
        ("open", r"/private/open-(\d+)\.html"),
    )
)


_HOSTILE_ROUTE = re.compile(r"/hostile/(\d+)/([a-z.\-]+)")


class Site:
    """A deterministic generated site served on one or more origins."""

    def __init__(self, settings: SiteSettings, origins: Sequence[str] | None = None) -> None:
        self.settings = settings
        hosts = settings.hosts
        self.origins = tuple(
            origins or (f"http://127.0.0.1:{8000 + index}" for index in range(hosts))
        )
        if len(self.origins) != hosts:
            raise ValueError(f"{hosts} hosts need {hosts} origins, got {len(self.origins)}")
        self._host_by_origin = {
            str(URL(origin).origin()): index for index, origin in enumerate(self.origins)
        }
        self.plan = FaultPlan.draw(settings.seed, settings.pages, settings.faults)
        self._branching = max(1, settings.links // 2)
        self.render_page = functools.lru_cache(maxsize=20_000)(self._render_page)
        if settings.fault_rate(FaultKind.GZIP_BOMB) > 0:
            hostile.gzip_bomb()  # built now: served from cache, it holds up no request

    def __repr__(self) -> str:
        faults = sum(1 for rate in self.settings.faults.values() if rate > 0)
        settings = self.settings
        return (
            f"<Site seed={settings.seed} pages={settings.pages} hosts={len(self.origins)}"
            f" fault kinds={faults}>"
        )

    # -- Where pages live -------------------------------------------------------------------

    def host_of(self, page: int) -> int:
        """Return the index of the origin that serves `page`."""
        return page % len(self.origins)

    def page_path(self, page: int) -> str:
        """Return the path (and query) of a page's content."""
        if page < len(self.origins):
            return "/"  # each host's home page
        section = page % SECTIONS
        if page % 7 == 3:
            return f"/section-{section}/item?id={page}"
        return f"/section-{section}/page-{page}.html"

    def page_url(self, page: int) -> str:
        """Return the canonical absolute URL of a page's content."""
        return self.origins[self.host_of(page)] + self.page_path(page)

    def link_url(self, page: int) -> str:
        """Return the URL other pages use to link to `page`: a redirect for redirected pages."""
        fault = self.plan.page_fault.get(page)
        origin = self.origins[self.host_of(page)]
        if fault is FaultKind.REDIRECT:
            return f"{origin}/moved/{page}"
        if fault is FaultKind.REDIRECT_CHAIN:
            return f"{origin}/chain/{page}/{CHAIN_LENGTH}"
        return self.page_url(page)

    def redirect_code(self, page: int) -> int:
        """Return the status a redirect of `page` answers with."""
        return REDIRECT_CODES[page % len(REDIRECT_CODES)]

    # -- What pages link to ------------------------------------------------------------------

    def linked_pages(self, page: int) -> list[tuple[int, bool]]:
        """Return (page, nofollow) for each page linked: home, parent, children, random."""
        count = self.settings.pages
        rng = random.Random(f"{self.settings.seed}:links:{page}")
        linked = [
            (self.host_of(page), False),
            ((page - 1) // self._branching if page else 0, False),
        ]
        first_child = page * self._branching + 1
        linked += [
            (child, False)
            for child in range(first_child, min(first_child + self._branching, count))
        ]
        for _ in range(self.settings.links - self._branching):
            linked.append((rng.randrange(count), rng.random() < 0.1))
        return linked

    def fault_links(self, page: int) -> list[str]:
        """Return the URLs of the misbehaving resources `page` links to."""
        origin = self.origins[self.host_of(page)]
        urls: list[str] = []
        for kind in self.plan.link_faults.get(page, ()):
            match kind:
                case FaultKind.BROKEN_LINK:
                    urls.append(f"{origin}/missing/{page}.html")
                case FaultKind.REDIRECT_LOOP:
                    urls.append(f"{origin}/loop/{page}/a")
                case FaultKind.OFFSITE_REDIRECT:
                    urls.append(f"{origin}/away/{page}")
                case FaultKind.HANG:
                    urls.append(f"{origin}/slow/{page}")
                case FaultKind.NON_HTML:
                    urls += [f"{origin}/media/image-{page}.png", f"{origin}/media/doc-{page}.pdf"]
                case FaultKind.SPIDER_TRAP:
                    urls.append(f"{origin}/calendar/{TRAP_START[0]}/{TRAP_START[1]:02d}/")
                case FaultKind.ROBOTS:
                    urls += [
                        f"{origin}/private/doc-{page}.html",
                        f"{origin}/private/open-{page}.html",
                    ]
                    if self.page_path(page).endswith(".html"):
                        urls.append(f"{self.page_url(page)}?print=1")
                case _ if kind in HOSTILE_FAULTS:
                    urls += hostile.hostile_links(kind, origin, page)
        return list(dict.fromkeys(urls))

    def links(self, page: int) -> list[Link]:
        """Return every in-site link of `page`, as absolute URLs, in page order."""
        found = [
            Link(self.link_url(target), nofollow) for target, nofollow in self.linked_pages(page)
        ]
        found += [Link(url) for url in self.fault_links(page)]
        return found

    def has_meta_nofollow(self, page: int) -> bool:
        """Say whether the page asks robots not to follow any of its links."""
        return page != 0 and uniform_draw(self.settings.seed, "meta-nofollow", page) < 0.02

    def near_duplicate_of(self, page: int) -> int | None:
        """Return the page whose prose `page` copies with small changes, if any."""
        if (
            page < 2
            or uniform_draw(self.settings.seed, "twin", page) >= self.settings.near_duplicates
        ):
            return None
        return int(uniform_draw(self.settings.seed, "twin-of", page) * page)

    def charset_of(self, page: int) -> str:
        """Return the charset a page is encoded in."""
        if self.plan.page_fault.get(page) in (FaultKind.CHARSET_HEADER, FaultKind.CHARSET_META):
            return text.FOREIGN_CHARSETS[page % len(text.FOREIGN_CHARSETS)]
        return "utf-8"

    def title_of(self, page: int) -> str:
        """Return the title of a page, as a crawler that decodes it right reads it."""
        return self._page_content(page).title

    # -- Rendering ----------------------------------------------------------------------------

    def _page_content(self, page: int) -> html_pages.PageContent:
        seed = self.settings.seed
        charset = self.charset_of(page)
        foreign = text.FOREIGN_WORDS.get(charset, ())
        # A near-duplicate takes its twin's words (title, prose, link labels) and changes one:
        # the same article under another URL, as mirrors and print views are.
        twin = self.near_duplicate_of(page)
        words_of = page
        while (original := self.near_duplicate_of(words_of)) is not None:
            words_of = original  # a twin's twin copies the same original
        rng = random.Random(f"{seed}:page:{page}")
        words_rng = random.Random(f"{seed}:words:{words_of}")
        title = f"{text.title_words(words_rng, foreign)} ({page})"
        paragraphs = html_pages.padding_paragraphs(
            words_rng, self.settings.page_size - 1200, foreign
        )
        if twin is not None:
            paragraphs = text.perturb(paragraphs, rng, words=1)
        own_url = URL(self.page_url(page))
        base_href: str | None = None
        base = own_url
        if page and uniform_draw(seed, "base", page) < 0.1:
            base_directory = f"/section-{(page + 3) % SECTIONS}/"
            base_href = base_directory if page % 2 else str(own_url.origin()) + base_directory
            base = own_url.join(URL(base_directory))
        hrefs = [
            (html_pages.write_href(URL(link.url), base, rng.randrange(8)), link.nofollow)
            for link in self.links(page)
        ]
        hrefs += [
            (f"https://www.example.com/articles/{page}", False),
            (f"http://{EXTERNAL_HOST}/ref/{page}?from=mock", page % 2 == 0),
            (f"mailto:editor-{page}@example.com", False),
            ("javascript:void(0)", False),
            (f"tel:+1-555-{page % 10000:04d}", False),
        ]
        if base_href is None:
            # Against a <base href> a fragment-only link names the base, a URL of no page.
            hrefs.append(("#top", False))
        return html_pages.PageContent(
            title=title,
            paragraphs=paragraphs,
            anchors=html_pages.anchors_for(hrefs, words_rng),
            base_href=base_href,
            meta_charset=None
            if self.plan.page_fault.get(page) is FaultKind.CHARSET_HEADER
            else charset,
            meta_nofollow=self.has_meta_nofollow(page),
        )

    def _render_page(self, page: int) -> tuple[bytes, bytes | None]:
        """Return the encoded body of a page, and its gzip form when the page is gzip-served."""
        fault = self.plan.page_fault.get(page)
        document = html_pages.render(self._page_content(page))
        if fault is FaultKind.MALFORMED_HTML:
            document = html_pages.damage(
                document, random.Random(f"{self.settings.seed}:damage:{page}")
            )
        if fault is FaultKind.OVERSIZE:
            document = html_pages.repeat_to_size(document, self.settings.oversize_bytes)
        body = document.encode(self.charset_of(page))
        compressed = (
            gzip.compress(body, compresslevel=6, mtime=0) if fault is FaultKind.GZIP else None
        )
        return body, compressed

    # -- Answering requests --------------------------------------------------------------------

    def route(self, url: str) -> tuple[int, Route] | None:
        """Return (host, route) for a URL of this site, or None when it names nothing."""
        parsed = URL(url)
        host = self._host_by_origin.get(str(parsed.origin()))
        if host is None:
            return None
        target = parsed.raw_path_qs
        if target == "/":
            return host, Route("page", host)
        if target == "/robots.txt":
            return host, Route("robots")
        if target == "/sitemap.xml" and self.settings.sitemaps:
            return host, Route("sitemap")
        if match := _HOSTILE_ROUTE.fullmatch(target):
            name = match.group(2)
            if name not in hostile.NAMES:
                return None
            return host, Route("hostile", int(match.group(1)), hostile.NAMES.index(name))
        for kind, pattern in _ROUTES:
            match = pattern.fullmatch(target)
            if match:
                numbers = [
                    int(group) if group.isdigit() else ord(group) for group in match.groups()
                ]
                if kind in ("page", "item", "print"):
                    page = numbers[1]
                    canonical = self.page_path(page) if 0 <= page < self.settings.pages else ""
                    suffix = "?print=1" if kind == "print" else ""
                    if canonical + suffix != target:
                        return None
                    return host, Route("print" if suffix else "page", page)
                return host, Route(kind, numbers[0], numbers[1] if len(numbers) > 1 else 0)
        return None

    def depends_on_attempt(self, url: str) -> bool:
        """Say whether `url` answers differently on later attempts (a transient fault)."""
        routed = self.route(url)
        if routed is None or routed[1].kind != "page":
            return False
        return self.plan.page_fault.get(routed[1].number) in TRANSIENT_FAULTS

    def respond(self, url: str, attempt: int = 1, accept_gzip: bool = True) -> SiteResponse:
        """Return the response to the `attempt`-th request for `url` (1 for the first)."""
        routed = self.route(url)
        if routed is None:
            return _html_response(404, html_pages.error_page(404, "Not Found"))
        host, route = routed
        handler = getattr(self, f"_respond_{route.kind}")
        response: SiteResponse | None = handler(host, route, attempt, accept_gzip)
        return response or _html_response(404, html_pages.error_page(404, "Not Found"))

    def _is_page_here(self, host: int, page: int) -> bool:
        return 0 <= page < self.settings.pages and self.host_of(page) == host

    def _carries(self, host: int, page: int, kind: FaultKind) -> bool:
        return self._is_page_here(host, page) and kind in self.plan.link_faults.get(page, ())

    def _respond_page(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._is_page_here(host, route.number):
            return None
        return self._serve_page(route.number, attempt, accept_gzip)

    def _serve_page(self, page: int, attempt: int, accept_gzip: bool) -> SiteResponse:
        fault = self.plan.page_fault.get(page)
        failing_attempt = attempt <= self.settings.transient_failures
        if fault is FaultKind.HTTP_500:
            return _html_response(500, html_pages.error_page(500, "Internal Server Error"))
        if fault is FaultKind.HTTP_503 and failing_attempt:
            return _html_response(503, html_pages.error_page(503, "Service Unavailable"))
        if fault is FaultKind.HTTP_429 and failing_attempt:
            retry_after = (
                f"{self.settings.retry_after:.0f}"
                if self.settings.retry_after >= 1
                else f"{self.settings.retry_after:g}"
            )
            return _html_response(
                429, html_pages.error_page(429, "Too Many Requests"), ("Retry-After", retry_after)
            )
        body, compressed = self.render_page(page)
        charset = self.charset_of(page)
        content_type = (
            "text/html" if fault is FaultKind.CHARSET_META else f"text/html; charset={charset}"
        )
        headers: tuple[tuple[str, str], ...] = (("Content-Type", content_type),)
        if compressed is not None and accept_gzip:
            body = compressed
            headers += (("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding"))
        action = Action.SEND
        if fault is FaultKind.RESET and failing_attempt:
            action = Action.RESET
        elif fault is FaultKind.TRUNCATED:
            action = Action.TRUNCATE
        return SiteResponse(200, headers, body, action)

    def _respond_robots(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        huge = self.settings.fault_rate(FaultKind.HUGE_ROBOTS) > 0
        if self.settings.fault_rate(FaultKind.ROBOTS) <= 0 and not huge:
            return None
        rules = self.robots_txt()
        body = hostile.huge_robots(rules) if huge else rules.encode()
        return SiteResponse(200, (("Content-Type", "text/plain"),), body)

    def _respond_sitemap(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        return SiteResponse(200, (("Content-Type", "application/xml"),), self.sitemap_xml(host))

    def sitemap_xml(self, host: int) -> bytes:
        """Return a host's sitemap: every page it serves, in page order, each with a lastmod of
        2026 drawn from the seed."""
        entries = []
        for page in range(host, self.settings.pages, len(self.origins)):
            day = zlib.crc32(f"{self.settings.seed}:lastmod:{page}".encode()) % 334
            lastmod = (dt.date(2026, 1, 1) + dt.timedelta(days=day)).isoformat()
            entries.append(
                f"<url><loc>{escape(self.page_url(page))}</loc><lastmod>{lastmod}</lastmod></url>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + "\n".join(entries)
            + "\n</urlset>\n"
        ).encode()

    def robots_txt(self) -> str:
        """Return the robots.txt every host serves when the robots fault is on."""
        lines = [
            "# Generated by mock-server",
            "User-agent: *",
            "Allow: /private/open-",
            "Disallow: /private/",
            "Disallow: /*?print=",
            f"Crawl-delay: {self.settings.robots_crawl_delay:g}",
        ]
        return "\n".join(lines) + "\n"

    def _respond_print(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.ROBOTS):
            return None
        return self._leaf(f"Printable page {route.number}")

    def _respond_private(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.ROBOTS):
            return None
        return self._leaf(f"Private document {route.number}")

    def _respond_open(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.ROBOTS):
            return None
        return self._leaf(f"Open document {route.number}")

    def _respond_moved(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        page = route.number
        if (
            not self._is_page_here(host, page)
            or self.plan.page_fault.get(page) is not FaultKind.REDIRECT
        ):
            return None
        return _redirect(self.redirect_code(page), self.page_path(page))

    def _respond_chain(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        page, hop = route.number, route.extra
        if (
            not self._is_page_here(host, page)
            or self.plan.page_fault.get(page) is not FaultKind.REDIRECT_CHAIN
        ):
            return None
        if not 1 <= hop <= CHAIN_LENGTH:
            return None
        target = self.page_path(page) if hop == 1 else f"/chain/{page}/{hop - 1}"
        return _redirect(self.redirect_code(page + hop), target)

    def _respond_loop(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.REDIRECT_LOOP):
            return None
        other = "b" if route.extra == ord("a") else "a"
        return _redirect(302, f"/loop/{route.number}/{other}")

    def _respond_away(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.OFFSITE_REDIRECT):
            return None
        return _redirect(302, self.offsite_target(route.number))

    def offsite_target(self, page: int) -> str:
        """Return where `/away/{page}` redirects: another host, or one that never resolves."""
        if len(self.origins) == 1:
            return f"http://{EXTERNAL_HOST}/landing/{page}.html"
        return f"{self.origins[(self.host_of(page) + 1) % len(self.origins)]}/landing/{page}.html"

    def _respond_landing(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        page = route.number
        if (
            len(self.origins) == 1
            or not 0 <= page < self.settings.pages
            or self.offsite_target(page) != f"{self.origins[host]}/landing/{page}.html"
        ):
            return None
        if FaultKind.OFFSITE_REDIRECT not in self.plan.link_faults.get(page, ()):
            return None
        return self._leaf(f"Landing page {page}")

    def _respond_slow(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.HANG):
            return None
        return SiteResponse(200, (("Content-Type", "text/html; charset=utf-8"),), b"", Action.HANG)

    def _respond_image(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.NON_HTML):
            return None
        return SiteResponse(200, (("Content-Type", "image/png"),), _PNG)

    def _respond_pdf(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        if not self._carries(host, route.number, FaultKind.NON_HTML):
            return None
        return SiteResponse(200, (("Content-Type", "application/pdf"),), _PDF)

    def _respond_calendar(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        year, month = route.number, route.extra
        if (
            self.settings.fault_rate(FaultKind.SPIDER_TRAP) <= 0
            or not 1 <= month <= 12
            or (year, month) < TRAP_START
        ):
            return None
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        document = html_pages.calendar_page(year, month, f"/calendar/{next_year}/{next_month:02d}/")
        return _html_response(200, document)

    def calendar_url(self, host: int, months_after_start: int) -> str:
        """Return the URL of the trap month `months_after_start` months after its entry."""
        year, month = divmod(TRAP_START[0] * 12 + TRAP_START[1] - 1 + months_after_start, 12)
        return f"{self.origins[host]}/calendar/{year}/{month + 1:02d}/"

    def _respond_hostile(
        self, host: int, route: Route, attempt: int, accept_gzip: bool
    ) -> SiteResponse | None:
        resource = hostile.RESOURCES[route.extra]
        page = route.number
        if not self._carries(host, page, resource.kind):
            return None
        origin = self.origins[host]
        html = (("Content-Type", "text/html; charset=utf-8"),)
        match resource.name:
            case "bomb.html":
                # Sent whatever the client accepts: an attacker does not ask.
                return SiteResponse(200, (*html, ("Content-Encoding", "gzip")), hostile.gzip_bomb())
            case "endless.html":
                return SiteResponse(200, html, hostile.ENDLESS_CHUNK, Action.ENDLESS)
            case "drip.html":
                return SiteResponse(200, html, hostile.DRIP_BODY, Action.DRIP)
            case "one-line.html":
                return SiteResponse(200, html, hostile.huge_line(page))
            case "nested.html":
                return SiteResponse(200, html, hostile.deep_nesting(page))
            case "bad-bytes.html":
                return SiteResponse(200, html, hostile.bad_bytes(page))
            case "links.html":
                return SiteResponse(200, html, hostile.links_page(origin, page))
            case "to-file":
                return _redirect(302, "file:///etc/passwd")
            case "to-data":
                return _redirect(302, "data:text/html,<h1>hi</h1>")
            case "to-other-port":
                return _redirect(302, hostile.other_port_origin(origin) + "/")
            case "no-location":
                return SiteResponse(302, html, html_pages.error_page(302, "Moved").encode())
            case "two-lengths.html":
                return SiteResponse(200, (), hostile.raw_two_lengths(page), Action.RAW)
            case "two-types.html":
                document = html_pages.leaf_page(f"Two types ({page})", random.Random(page), 300)
                return SiteResponse(
                    200,
                    (*html, ("Content-Type", "application/octet-stream")),
                    document.encode(),
                )
            case "binary.html":
                return SiteResponse(200, html, hostile.binary_body(page))
            case "page.png":
                document = html_pages.leaf_page(f"Not a picture ({page})", random.Random(page), 300)
                return SiteResponse(200, (("Content-Type", "image/png"),), document.encode())
        return None

    def _leaf(self, title: str) -> SiteResponse:
        rng = random.Random(f"{self.settings.seed}:leaf:{title}")
        return _html_response(200, html_pages.leaf_page(title, rng, 600))


def _html_response(status: int, document: str, *headers: tuple[str, str]) -> SiteResponse:
    return SiteResponse(
        status, (("Content-Type", "text/html; charset=utf-8"), *headers), document.encode()
    )


def _redirect(status: int, location: str) -> SiteResponse:
    return SiteResponse(
        status,
        (("Location", location), ("Content-Type", "text/html; charset=utf-8")),
        html_pages.error_page(status, "Moved").encode(),
    )
