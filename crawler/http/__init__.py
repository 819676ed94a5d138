"""HTTP for every strategy: two clients that move bytes, and one reading of what the bytes mean.

`aiohttp_client` (async strategies) and `requests_client` (sync, threads) perform one GET each,
with no redirects followed, no cookies kept and no decompression done by the library. Everything
that interprets a response is shared: `decoding` undoes Content-Encoding under the size cap,
`location` reads a redirect's target from its raw bytes, `responses` builds the core's outcome and
names failures. So the same bytes on the wire give the same record, whichever client fetched them.
"""
