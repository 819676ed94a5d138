"""How a crawl stops, in one place: the process's signals (`signals`, standard library only), the
sans-I/O stop state machine (`control`), and the blocking strategies' alarm (`blocking`).

Import the module you need: this package loads nothing by itself.
"""
