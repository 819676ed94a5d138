"""Allow `python -m crawler`."""

from crawler.entry import main

main()
