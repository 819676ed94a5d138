"""Raise this process's open-file limit as far as the system allows.

Every connection holds a descriptor, on the crawler's side and on the mock server's. The soft
limit is often 1,024, fewer than a crawl of 2,000 concurrent connections, or the server answering
it, needs; the hard limit is usually far higher and any process may raise its soft limit to it.
"""

from __future__ import annotations

import contextlib
import resource


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
