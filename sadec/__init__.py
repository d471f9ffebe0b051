"""The ``sadec`` command and what composes the rooms below it: running the crawl
(:mod:`sadec.local`), the demo, ``rebuild``, ``verify``, ``export`` and the reading room."""
