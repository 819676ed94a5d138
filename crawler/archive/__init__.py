"""`--warc`: the crawl's requests and responses as WARC/1.1 records (see `warc.WarcArchive`).

Loads nothing by itself: warcio is imported only by a crawl that archives.
"""
