"""Throughput of the local store exporter: GenAI spans written per second, in batches of 512.

    PYTHONPATH=src python benchmarks/bench_store.py [--spans 51200] [--batch 512]

Spans are real SDK spans carrying what the core and the cost processor set. The timing covers
export() only (span -> row, then one transaction per batch), the work the BatchSpanProcessor
thread does off the request path.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from genai_cost import semconv as sc
from genai_cost.store.db import UsageStore
from genai_cost.store.exporter import LocalStoreSpanExporter, span_to_row
from genai_cost.usage import Cost, Usage


def make_spans(count: int) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    usage = Usage(input_tokens=1800, output_tokens=150, cache_read_tokens=1024).to_attributes()
    cost = Cost(0.0012, input=0.0009, output=0.0002, cache_read=0.0001).to_attributes()
    for i in range(count):
        attrs = {
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: sc.PROVIDER_GROQ,
            sc.GEN_AI_REQUEST_MODEL: "llama-3.3-70b-versatile",
            sc.GEN_AI_RESPONSE_MODEL: "llama-3.3-70b-versatile",
            sc.GEN_AI_RESPONSE_ID: f"chatcmpl-{i}",
            sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
            sc.SERVER_ADDRESS: "api.groq.com",
            sc.FEATURE_NAME: "interview",
            sc.USER_ID: f"user-{i % 50}",
            sc.SESSION_ID: f"session-{i % 400}",
            "tenant": "acme",
            **usage,
            **cost,
        }
        with tracer.start_as_current_span(
            "chat llama-3.3-70b-versatile", kind=SpanKind.CLIENT, attributes=attrs
        ):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=51_200)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()

    spans = make_spans(args.spans)
    batches = [spans[i : i + args.batch] for i in range(0, len(spans), args.batch)]

    start = time.perf_counter()
    for span in spans:
        span_to_row(span)
    convert_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "usage.db"
        exporter = LocalStoreSpanExporter(path)
        exporter.export(batches[0][:1])  # open and migrate outside the timing
        start = time.perf_counter()
        for batch in batches:
            assert exporter.export(batch) == SpanExportResult.SUCCESS
        export_s = time.perf_counter() - start
        exporter.shutdown()
        with UsageStore.open(path, create=False) as store:
            assert store.count() == len(spans)
            start = time.perf_counter()
            for by in ("total", "feature", "user", "session"):
                store.report(by)
            report_s = time.perf_counter() - start
        size_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6

    print(f"spans: {len(spans):,} in {len(batches)} batches of {args.batch}")
    print(f"export (span -> row + one transaction per batch): {len(spans) / export_s:,.0f} rows/s")
    print(f"  of which span -> row alone:                      {len(spans) / convert_s:,.0f} rows/s")
    print(f"  per batch: {export_s / len(batches) * 1000:.1f} ms")
    print(f"report total+feature+user+session over {len(spans):,} rows: {report_s * 1000:.0f} ms")
    print(f"store size: {size_mb:.1f} MB ({size_mb * 1e6 / len(spans):.0f} bytes/row)")


if __name__ == "__main__":
    main()
