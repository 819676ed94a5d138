"""A fetched page analysed: which responses are pages, the HTML parse with its links and
hints, and the near-duplicate fingerprint. CPU work on bytes, with no HTTP client and no settings
machinery, so it runs wherever a strategy puts it: inline, on a thread, or in a worker process.
"""
