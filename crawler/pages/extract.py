"""Data pulled out of pages: `--extract NAME=SELECTOR`, CSS as Scrapy's parsel spells it.

A rule names a field and a CSS selector, optionally ending in a pseudo-element:
- `h1::text`: the text nodes directly inside each `<h1>`, each one a value, as they are (parsel's
  `::text`); `h1 *::text`: every text node inside it, at any depth;
- `a::attr(href)`: the attribute of each `<a>` that has it;
- no suffix: each element's HTML, tags and all.

A page's record gets `data`, one list of values per field, in document order (empty when
nothing matched). Rules from a config file's `[extract]` table may be limited to the pages whose
URL matches a regular expression (a sub-table named by it). Extraction runs on the tree the
page's analysis already built, wherever that runs (a process pool for `async-procs`, a fetching
process, a fleet worker), so it costs no second parse; a selector lexbor cannot read is refused
before the crawl starts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # lexbor is imported where pages are parsed, not where settings are read
    from selectolax.lexbor import LexborHTMLParser, LexborNode

# What a page's record carries: (field, its values), in the order the rules were given.
Extracted = tuple[tuple[str, tuple[str, ...]], ...]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ATTRIBUTE = re.compile(r"::attr\(\s*([^()\s]+)\s*\)\s*$")


@dataclass(frozen=True, slots=True)
class ExtractRule:
    """One field to extract: its name, its selector as written, and the pages it applies to."""

    name: str
    selector: str
    url_pattern: str = ""  # a regular expression searched in the page's URL; "" is every page

    def applies_to(self, url: str) -> bool:
        """Say whether the rule is for the page at `url`."""
        return not self.url_pattern or _compiled(self.url_pattern).search(url) is not None


def parse_rule(text: str, url_pattern: str = "") -> ExtractRule:
    """Read `NAME=SELECTOR`; raise ValueError saying what is wrong with it."""
    name, equals, selector = text.partition("=")
    if not equals:
        raise ValueError(f"{text!r} is not NAME=SELECTOR (e.g. title=h1::text)")
    rule = ExtractRule(name.strip(), selector.strip(), url_pattern)
    problem = rule_problem(rule)
    if problem is not None:
        raise ValueError(problem)
    return rule


def rule_problem(rule: ExtractRule) -> str | None:
    """Say what is wrong with a rule (None: nothing): a name, a selector lexbor reads, a regex."""
    if not _NAME.fullmatch(rule.name):
        return f"{rule.name!r} is not a field name (letters, digits, _ . -)"
    css, _, _ = split_selector(rule.selector)
    if not css:
        return f"{rule.name}: the selector is empty"
    try:
        _probe().css(css)
    except Exception:
        return f"{rule.name}: {rule.selector!r} is not a CSS selector lexbor can read"
    if rule.url_pattern:
        try:
            _compiled(rule.url_pattern)
        except re.error as error:
            return f"{rule.name}: URL pattern {rule.url_pattern!r}: {error}"
    return None


def rules_from_table(table: Mapping[str, Any]) -> list[ExtractRule]:
    """Return the rules of a config file's `[extract]` table: `NAME = "SELECTOR"` for every page,
    and `[extract."REGEX"]` sub-tables for the pages whose URL matches REGEX."""
    rules = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            rules += [parse_rule(f"{name}={selector}", key) for name, selector in value.items()]
        else:
            rules.append(parse_rule(f"{key}={value}"))
    return rules


def as_rules(values: Any) -> tuple[ExtractRule, ...]:
    """Return rules from `NAME=SELECTOR` texts (one, or a list) and rules already made (from a
    config's `[extract]` table)."""
    listed = [values] if isinstance(values, str | ExtractRule) else list(values)
    return tuple(
        value if isinstance(value, ExtractRule) else parse_rule(str(value)) for value in listed
    )


def shown_rules(rules: tuple[ExtractRule, ...]) -> str:
    """Return rules as `--help` and errors show them: `NAME=SELECTOR, ...`."""
    return ", ".join(f"{rule.name}={rule.selector}" for rule in rules)


@functools.lru_cache(maxsize=256)
def split_selector(selector: str) -> tuple[str, str, str]:
    """Return a selector's CSS, what it takes (`html`, `text`, `all text` or `attr`) and the
    attribute."""
    attribute = _ATTRIBUTE.search(selector)
    if attribute:
        return selector[: attribute.start()].strip(), "attr", attribute.group(1)
    if selector.rstrip().endswith("::text"):
        css = selector.rstrip()[: -len("::text")].rstrip()
        base = css[:-1]
        if css.endswith("*") and base.endswith(" ") and not base.rstrip().endswith((">", "+", "~")):
            # `div *::text`: every text node inside each `div`, its own included (parsel's way)
            return base.strip(), "all text", ""
        return css.strip(), "text", ""
    return selector.strip(), "html", ""


@functools.cache
def _probe() -> LexborHTMLParser:
    """Return an empty document to try selectors on."""
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser("<html></html>")


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def extract(tree: LexborHTMLParser, url: str, rules: Iterable[ExtractRule]) -> Extracted:
    """Return the values of every rule that applies to the page at `url`."""
    found = []
    for rule in rules:
        if not rule.applies_to(url):
            continue
        css, takes, attribute = split_selector(rule.selector)
        found.append((rule.name, tuple(_values(tree.css(css), takes, attribute))))
    return tuple(found)


def _values(nodes: Iterable[LexborNode], takes: str, attribute: str) -> Iterable[str]:
    for node in nodes:
        if takes == "attr":
            value = node.attributes.get(attribute)
            if value is not None:
                yield value
        elif takes == "text":
            for child in node.iter(include_text=True):
                if child.tag == "-text":
                    yield child.text(deep=False)
        elif takes == "all text":
            for inner in node.traverse(include_text=True):
                if inner.tag == "-text":
                    yield inner.text(deep=False)
        else:
            yield node.html or ""
