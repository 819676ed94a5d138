"""Which proxy a request takes (`crawler/http/proxies.py`), read as curl and requests read the
standard variables: lower-case names win, NO_PROXY's entries match hosts, domains and ports."""

from __future__ import annotations

import pytest

from crawler.http.proxies import (
    bypassed,
    credentials,
    proxy_for,
    proxy_problem,
    routes_from,
    without_credentials,
)


def test_the_environment_gives_a_proxy_per_scheme_and_lower_case_wins() -> None:
    routes = routes_from(
        None,
        {
            "HTTP_PROXY": "http://upper:3128",
            "http_proxy": "http://lower:3128",
            "HTTPS_PROXY": "secure.example:8080",  # no scheme: http://, as requests reads it
            "NO_PROXY": ".internal,10.0.0.1:8080",
        },
    )
    assert dict(routes) == {
        "http": "http://lower:3128",
        "https": "http://secure.example:8080",
        "no": ".internal,10.0.0.1:8080",
    }
    assert proxy_for(routes, "http://example.org/") == "http://lower:3128"
    assert proxy_for(routes, "https://example.org/a") == "http://secure.example:8080"
    assert proxy_for(routes, "http://docs.internal/") is None
    assert proxy_for(routes, "http://10.0.0.1:8080/") is None
    assert proxy_for(routes, "http://10.0.0.1:9090/") == "http://lower:3128"
    assert proxy_for((), "http://example.org/") is None


def test_an_explicit_proxy_serves_both_schemes_and_no_proxy_still_applies() -> None:
    routes = routes_from("http://p:1", {"HTTPS_PROXY": "http://other:2", "no_proxy": "*"})
    assert dict(routes) == {"http": "http://p:1", "https": "http://p:1", "no": "*"}
    assert proxy_for(routes, "https://anything/") is None


@pytest.mark.parametrize(
    "host,port,no_proxy,expected",
    [
        ("www.example.org", None, "example.org", True),
        ("www.example.org", None, ".example.org", True),
        ("www.example.org", None, "*.example.org", True),
        ("example.org", None, ".example.org", True),
        ("notexample.org", None, "example.org", False),
        ("example.org", 8080, "example.org:8080", True),
        ("example.org", 80, "example.org:8080", False),
        ("EXAMPLE.org", None, " example.ORG ,other", True),
        ("example.org", None, "", False),
    ],
)
def test_no_proxy_matches_hosts_domains_and_ports(
    host: str, port: int | None, no_proxy: str, expected: bool
) -> None:
    assert bypassed(host, port, no_proxy) is expected


def test_credentials_are_read_masked_and_taken_out() -> None:
    proxy = "http://crawler:s%40cret@127.0.0.1:3128"
    assert credentials(proxy) == ("crawler", "s@cret")
    assert without_credentials(proxy) == "http://127.0.0.1:3128"
    assert credentials("http://127.0.0.1:3128") is None
    problem = proxy_problem("https://u:s3cret@p:1")
    assert problem is not None and "s3cret" not in problem and "u:***@p:1" in problem
    with pytest.raises(ValueError, match=r"\$HTTP_PROXY: .*only http:// proxies"):
        routes_from(None, {"HTTP_PROXY": "socks5://p:1080"})
