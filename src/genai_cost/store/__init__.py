"""The embedded local store: a span exporter writing GenAI usage to SQLite, and the queries `report` runs.

Modules: ``db`` (UsageStore, paths, all queries), ``migrations`` (schema versions), ``exporter``
(LocalStoreSpanExporter), ``timerange`` (``--since``/``--days``/``--from``/``--to``), ``render``
(table, CSV and JSON output).
"""
