"""The usage store: every GenAI call as a row, and the queries `report` runs.

Modules: ``db`` (UsageStore, paths, all queries), ``migrations`` (schema versions), ``rows`` (a call's
attributes -> a row), ``writer`` (the records sink: buffer, thread, retries), ``targets`` (where the
writer writes), ``exporter`` (LocalStoreSpanExporter, the switch), ``timerange``
(``--since``/``--days``/``--from``/``--to``), ``render`` (table, CSV and JSON output).
"""
