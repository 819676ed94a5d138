"""Secrets kept out of what a command prints: a URL's password shown as `***`."""

from __future__ import annotations

import urllib.parse


def redacted_url(url: str) -> str:
    """Return `url` with its password (if any) shown as `***`: for output, logs and errors."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        return "(a URL that does not parse)"
    if password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
