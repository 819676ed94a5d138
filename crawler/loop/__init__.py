"""An event loop written from scratch, to show what asyncio does underneath.

A coroutine here is a plain generator: it `yield`s what it waits for (a socket to become readable
or writable, a moment to pass) and the loop resumes it when that happens, with `send`, or throws
`TimeoutError` into it when a deadline passes first. The loop is a ready queue, a heap of timers
and one `selectors` selector (epoll on Linux): nothing else. The `loop` strategy crawls with it,
through `crawler.http.h11_client`, so it can be measured beside asyncio and uvloop on the same
crawl.
"""

from crawler.loop.scheduler import Park, Readable, SelectorLoop, Task, Writable

__all__ = ["Park", "Readable", "SelectorLoop", "Task", "Writable"]
