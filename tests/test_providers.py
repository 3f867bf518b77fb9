"""Provider detection from the client's base URL, and its override."""

from __future__ import annotations

import pytest

from genai_cost.config import parse_provider_hosts
from genai_cost.providers import OPENAI_COMPATIBLE, detect


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", "gcp.gemini"),
        ("https://api.anthropic.com", "anthropic"),
        ("https://my-resource.openai.azure.com/openai", "azure.ai.openai"),
        ("https://us-central1-aiplatform.googleapis.com/v1", "gcp.vertex_ai"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com", "aws.bedrock"),
        ("http://localhost:8000/v1", OPENAI_COMPATIBLE),
    ],
)
def test_known_hosts(url: str, provider: str) -> None:
    assert detect(url, OPENAI_COMPATIBLE).provider == provider


def test_server_address_and_port() -> None:
    endpoint = detect("https://api.groq.com/openai/v1", OPENAI_COMPATIBLE)
    assert (endpoint.address, endpoint.port) == ("api.groq.com", 443)
    endpoint = detect("http://vllm.internal:8000/v1", OPENAI_COMPATIBLE)
    assert (endpoint.provider, endpoint.address, endpoint.port) == (OPENAI_COMPATIBLE, "vllm.internal", 8000)


def test_override_rules_longest_match_wins() -> None:
    rules = parse_provider_hosts("127.0.0.1=openai, 127.0.0.1/groq=groq ,llm.corp:8443=anthropic")
    assert detect("http://127.0.0.1:5000/v1", "x", rules).provider == "openai"
    assert detect("http://127.0.0.1:5000/groq/openai/v1", "x", rules).provider == "groq"
    assert detect("https://llm.corp:8443", "x", rules).provider == "anthropic"
    assert detect("https://llm.corp:9443", "x", rules).provider == "x"
    # An override beats the built-in table (e.g. a gateway on a known host).
    assert detect("https://api.openai.com/v1", "x", {"api.openai.com": "my-gateway"}).provider == "my-gateway"


def test_bad_override_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="host=provider"):
        parse_provider_hosts("127.0.0.1")


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        # Hosts genai-prices' provider URL patterns know: the semconv name where one exists...
        ("https://api.deepseek.com", "deepseek"),
        ("https://api.deepseek.com/v1", "deepseek"),
        ("https://api.mistral.ai/v1", "mistral_ai"),
        ("https://api.x.ai/v1", "x_ai"),
        ("https://api.perplexity.ai", "perplexity"),
        ("https://api.cohere.ai/compatibility/v1", "cohere"),
        # ...else genai-prices' own provider id.
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.together.xyz/v1", "together"),
        ("https://api.fireworks.ai/inference/v1", "fireworks"),
        ("https://api.cerebras.ai/v1", "cerebras"),
        # Local and private hosts are never looked up; an unknown public one stays OpenAI-compatible.
        ("http://localhost:11434/v1", OPENAI_COMPATIBLE),
        ("http://10.0.0.7:8000/v1", OPENAI_COMPATIBLE),
        ("http://vllm.internal/v1", OPENAI_COMPATIBLE),
        ("https://llm.example.com/v1", OPENAI_COMPATIBLE),
    ],
)
def test_hosts_known_to_the_price_data(url: str, provider: str) -> None:
    assert detect(url, OPENAI_COMPATIBLE).provider == provider


@pytest.mark.parametrize(
    ("path", "provider"),
    [
        ("/v1/genai-cost-fake/openai", "openai"),
        ("/v1/genai-cost-fake/deepseek", "deepseek"),
        ("/v1/genai-cost-fake/openrouter/", "openrouter"),
        ("/genai-cost-fake/azure/openai/", "azure.ai.openai"),  # AzureOpenAI appends /openai
        ("/v1/genai-cost-fake/x-ai", "x_ai"),
    ],
)
def test_fake_server_marker_names_the_provider(path: str, provider: str) -> None:
    assert detect(f"http://127.0.0.1:5000{path}", OPENAI_COMPATIBLE).provider == provider
