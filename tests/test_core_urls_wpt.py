"""URL rules against the URL Standard's own test data (web-platform-tests' urltestdata.json).

Every case with an http(s) base or an absolute http(s) input: the crawler's link is its normal
form of the `href` a browser gives, and a failure (or a URL of another scheme) gives no link.
The normal form is spelled out again here, on the standard's serialization, so that the test
does not take the code's word for it. See tests/data/README.md for where the data comes from.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

import pytest

from crawler.core.urls import LinkResolver, normalize_url

DATA = Path(__file__).parent / "data" / "urltestdata.json"
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# What the URL parser trims from both ends of an input, and drops anywhere.
TRIMMED = "".join(chr(code) for code in range(0x21))


def read_as_the_parser_does(text: str) -> str:
    return text.strip(TRIMMED).replace("\t", "").replace("\n", "").replace("\r", "")


def is_http(text: str) -> bool:
    scheme = SCHEME.match(read_as_the_parser_does(text))
    return scheme is not None and scheme.group().lower() in ("http:", "https:")


def applies(case: dict[str, Any]) -> bool:
    base = case.get("base")
    return is_http(base) if base is not None else is_http(case["input"])


CASES = [
    case
    for case in json.loads(DATA.read_text(encoding="utf-8"))
    if isinstance(case, dict) and applies(case)
]

UNRESERVED = string.ascii_letters + string.digits + "-._~"
SUB_DELIMS = "!$&'()*+,;="


def escapes_in_normal_form(part: str, allowed: str) -> str:
    """RFC 3986 §6.2.2: an escape of an unreserved character decoded, any other upper-cased, and
    a character the component may not hold escaped (a `%` that starts no escape stays)."""

    def normal(match: re.Match[str]) -> str:
        text = match.group()
        if len(text) == 3:
            char = chr(int(text[1:], 16))
            return char if char in UNRESERVED else text.upper()
        return text if text in UNRESERVED + SUB_DELIMS + allowed + "%" else f"%{ord(text):02X}"

    return re.sub(r"%[0-9A-Fa-f]{2}|.", normal, part, flags=re.DOTALL)


def crawler_normal_form(href: str) -> str | None:
    """The crawler's normal form of a browser's http(s) `href`, or None for another scheme."""
    scheme, _, rest = href.partition("://")
    if scheme not in ("http", "https"):
        return None
    authority, _, path_and_query = rest.split("#", 1)[0].partition("/")
    userinfo, at, host = authority.rpartition("@")
    path, mark, query = path_and_query.partition("?")
    return (
        f"{scheme}://{escapes_in_normal_form(userinfo, ':')}{at}{host}"
        f"/{escapes_in_normal_form(path, ':@/')}{mark}{escapes_in_normal_form(query, ':@/?')}"
    )


def names_the_document_itself(case: dict[str, Any]) -> bool:
    """An empty or fragment-only href is the page it is on (or its base): a browser scrolls or
    reloads, and the crawler, which has that page already, gives no link."""
    href = read_as_the_parser_does(case["input"])
    return case.get("base") is not None and (not href or href.startswith("#"))


def expected_link(case: dict[str, Any]) -> str | None:
    if case.get("failure") or names_the_document_itself(case):
        return None
    return crawler_normal_form(case["href"])


def test_the_data_is_all_there() -> None:
    """The vendored file holds the cases the README beside it counts, so none are skipped."""
    assert len(CASES) == 482
    assert (
        sum(1 for case in CASES if names_the_document_itself(case) and not case.get("failure")) == 9
    )


@pytest.mark.parametrize("joins_as_strings", [True, False], ids=["fast-path", "parser-only"])
@pytest.mark.parametrize(
    "case", CASES, ids=[f"{index}:{case['input']!r}"[:60] for index, case in enumerate(CASES)]
)
def test_links_resolve_as_browsers_resolve_them(
    case: dict[str, Any], joins_as_strings: bool
) -> None:
    """The link is the crawler's normal form of the standard's `href`; a failure gives none."""
    base = case.get("base")
    if base is None:
        got = normalize_url(case["input"])
    else:
        resolver = LinkResolver(base)
        resolver.joins_as_strings = joins_as_strings
        got = resolver.resolve(case["input"])
    assert got == expected_link(case)


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if not case.get("failure") and is_http(case["href"])],
    ids=lambda case: repr(case["href"])[:60],
)
def test_the_normal_form_of_a_browsers_url_is_its_own_normal_form(case: dict[str, Any]) -> None:
    """Normalizing the standard's `href` gives the spelled-out normal form, which is a fixed point."""
    normal = normalize_url(case["href"])
    assert normal == crawler_normal_form(case["href"])
    assert normal is not None and normalize_url(normal) == normal
