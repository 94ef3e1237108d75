"""The results database: its schema and migrations (``storage``), the response cache
(``cache``) and the public read API (``results``: ``Results``). No pytest here."""
