"""Instrumenting imports no SDK; the patch lands when the app imports it (post-import hook)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

SCRIPT = textwrap.dedent(
    """
    import sys
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from genai_cost.config import Settings
    from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
    from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
    from genai_cost.instrumentation.groq import GroqInstrumentor
    from genai_cost.instrumentation.openai import OpenAIInstrumentor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = Settings(cost_enabled=False, provider_hosts={"127.0.0.1": "openai"})
    for instrumentor in (OpenAIInstrumentor(), AnthropicInstrumentor(), GroqInstrumentor(), GoogleGenAIInstrumentor()):
        instrumentor.instrument(tracer_provider=provider, settings=settings)
    sdks = ("openai", "anthropic", "groq", "google.genai")
    print("imported before the app:", sorted(m for m in sdks if m in sys.modules))

    import openai  # the app imports its SDK after instrumentation: still instrumented

    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    print("spans:", [s.name for s in exporter.get_finished_spans()])
    """
)


def test_instrument_before_import_patches_on_import(fake_server: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, fake_server.openai_base_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "imported before the app: []" in done.stdout
    assert "spans: ['chat gpt-4o']" in done.stdout
