"""Conformance tests: the crawler against real servers nobody on the team wrote (nginx, httpbin),
and against wget as a reference crawler. Run `scripts/install-system-packages` first."""
