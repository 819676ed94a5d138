"""robots.txt groups as RFC 9309 §2.1 draws them: only a rule ends a group's user-agent lines.

A group starts with one or more user-agent lines and ends at the next user-agent line after its
rules; lines the protocol does not define (§2.2.4) are ignored for grouping, as Google's reference
parser ignores them. Each kind of line that may sit between two user-agent lines is checked here
without a network, then a crawl over real HTTP checks that an agent named there is kept out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crawler.core.records import Record
from crawler.core.robots import RobotsRules
from crawler.run.crawl import run_crawl
from crawler.settings import load_crawl_settings
from crawler.strategies import STRATEGIES
from tests.crawling import check_output, read_records
from tests.sites import html, robots, serve

AGENTS = ("FooBot", "crawler-lab")  # each named in the first user-agent line in turn

# Lines that may sit between `User-agent: FooBot` and `User-agent: *`: none ends the group.
BETWEEN = {
    "unknown key": "Invalid-Unknown-Line: unknown",
    "unknown key, no value": "Noindex:",
    "another crawler's key": "Clean-param: ref /articles/",
    "colon that separates nothing": "no-separator:here",
    "no colon at all": "this line is not a record",
    "comment": "# FooBot obeys the rules below",
    "comment after a key": "Invalid-Unknown-Line: x # a comment",
    "blank line": "",
    "blank line of spaces": "   \t",
    "sitemap": "Sitemap: https://example.com/sitemap.xml",
    "host": "Host: example.com",
    "crawl-delay": "Crawl-delay: 3",
    "request-rate": "Request-rate: 1/5",
    "visit-time": "Visit-time: 0600-0845",
    "several kinds": "# why\n\nSitemap: https://example.com/s.xml\nX-Robots: 1\nCrawl-delay: 3",
}


def rules(text: str, agent: str) -> RobotsRules:
    return RobotsRules.parse(text.encode(), agent)


@pytest.mark.parametrize("line", BETWEEN.values(), ids=list(BETWEEN))
@pytest.mark.parametrize("agent", AGENTS)
def test_a_line_between_user_agents_leaves_them_one_group(line: str, agent: str) -> None:
    """A line that is no rule between two user-agent lines leaves both agents in one group: the
    first agent is denied by the group's rule, where a group of its own would allow it (`*`)."""
    text = f"User-agent: {agent}\n{line}\nUser-agent: OtherBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    assert not rules(text, agent).allows("https://example.com/page", agent)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_the_group_holds_whatever_ends_the_lines(ending: str) -> None:
    """CRLF and lone-CR files are grouped alike."""
    text = ending.join(["User-agent: FooBot", "Unknown: x", "User-agent: *", "Disallow: /", ""])
    assert not rules(text, "FooBot").allows("https://example.com/page", "FooBot")


def test_a_byte_order_mark_before_the_group_changes_nothing() -> None:
    """A UTF-8 byte-order mark before the first user-agent line leaves the group whole."""
    text = "\ufeffUser-agent: FooBot\nUnknown: x\nUser-agent: *\nDisallow: /\n"
    assert not rules(text, "FooBot").allows("https://example.com/page", "FooBot")


def test_a_crawl_delay_among_user_agents_holds_for_the_whole_group() -> None:
    """A Crawl-delay among a group's user-agent lines is the group's, for every agent it names."""
    text = "User-agent: FooBot\nCrawl-delay: 3\nUser-agent: *\nDisallow: /private/\n"
    assert [rules(text, agent).crawl_delay for agent in AGENTS] == [3.0, 3.0]


@pytest.mark.parametrize("rule", ["Disallow: /foo", "Disallow:", "Allow: /", "disallow /foo"])
def test_a_rule_ends_the_run_of_user_agents(rule: str) -> None:
    """An allow or disallow line, empty or without its colon too, ends the group: the next
    user-agent line starts another."""
    text = f"User-agent: FooBot\n{rule}\nUser-agent: *\nDisallow: /\n"
    assert rules(text, "FooBot").allows("https://example.com/page", "FooBot")
    assert not rules(text, "crawler-lab").allows("https://example.com/page", "crawler-lab")


def test_lines_after_a_groups_rules_stay_in_that_group() -> None:
    """A Crawl-delay after a group's rules is that group's alone."""
    text = "User-agent: FooBot\nDisallow: /a\nCrawl-delay: 4\nUser-agent: *\nDisallow: /\n"
    assert [rules(text, agent).crawl_delay for agent in AGENTS] == [4.0, 0.0]
    assert rules(text, "FooBot").allows("https://example.com/page", "FooBot")


def test_sitemaps_among_user_agents_are_still_read() -> None:
    """A Sitemap line moved out of the run of user-agent lines is still the site's."""
    text = "User-agent: FooBot\nSitemap: https://example.com/s.xml\nUser-agent: *\nDisallow: /\n"
    parser = rules(text, "FooBot").parser
    assert parser is not None
    assert list(parser.sitemaps) == ["https://example.com/s.xml"]


def errors_by_path(records: list[Record], base: str) -> dict[str, str | None]:
    return {
        record.url.removeprefix(base.rstrip("/")): (record.error.value if record.error else None)
        for record in records
    }


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
async def test_a_crawl_keeps_an_agent_named_before_an_unknown_line_out(
    tmp_path: Path, strategy: str
) -> None:
    """Over real HTTP, every strategy crawling as FooBot obeys the `*` group it shares."""
    text = "User-agent: FooBot\nInvalid-Unknown-Line: unknown\nUser-agent: *\nDisallow: /private/\n"
    pages = {
        "/": html("/private/x", "/open"),
        "/open": html(),
        "/private/x": html(),
        "/robots.txt": robots(text),
    }
    output = tmp_path / "out.jsonl"
    async with serve(pages) as base:
        settings = load_crawl_settings(
            overrides={
                "seeds": [base],
                "output": str(output),
                "quiet": True,
                "retries": 0,
                "strategy": strategy,
                "user_agent": "FooBot/1.0 (+https://example.com/bot)",
            }
        )
        outcome = await asyncio.to_thread(run_crawl, settings, None, False)
    check_output(output, outcome.summary["pages"])
    assert errors_by_path(read_records(output), base) == {
        "/": None,
        "/open": None,
        "/private/x": "robots",
    }
