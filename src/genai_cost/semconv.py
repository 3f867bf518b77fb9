"""Every attribute, metric and token-type name genai-cost emits, in one place.

Names follow the OpenTelemetry GenAI semantic conventions (latest). Dashboards, alert rules, the
local store and the tests all depend on these strings: change them here or nowhere.
"""

from __future__ import annotations

from typing import Final

# --- span attributes: GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
# Audio part of the input (cached audio included), a subset of gen_ai.usage.input_tokens: the
# modality breakdown of open-telemetry/semantic-conventions-genai model/gen-ai/registry.yaml (development).
GEN_AI_USAGE_AUDIO_INPUT_TOKENS: Final = "gen_ai.usage.audio.input_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# --- span attributes: cost (no standard yet; follows the open proposal) ---------------------------
GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
COST_SOURCE_LOCAL: Final = "local"
COST_CURRENCY_USD: Final = "USD"

# --- compatibility attributes (opt-in per family: OTEL_INSTRUMENTATION_GENAI_COST_COMPAT) -------------
# The same computed cost under the names other backends read, so they show it instead of re-estimating.
COMPAT_LANGFUSE: Final = "langfuse"
COMPAT_LOGFIRE: Final = "logfire"
COMPAT_OPENINFERENCE: Final = "openinference"
COMPAT_OPENLIT: Final = "openlit"
COMPAT_FAMILIES: Final = (COMPAT_LANGFUSE, COMPAT_LOGFIRE, COMPAT_OPENINFERENCE, COMPAT_OPENLIT)
# Langfuse: JSON objects it takes before any other cost or usage attribute (usage_details also stops its
# generic extractor from reading gen_ai.usage.cost.amount as a usage type "cost.amount").
LANGFUSE_COST_DETAILS: Final = "langfuse.observation.cost_details"
LANGFUSE_USAGE_DETAILS: Final = "langfuse.observation.usage_details"
# Langfuse's usage and cost detail keys (its names for the token kinds).
LANGFUSE_INPUT: Final = "input"  # uncached input
LANGFUSE_CACHE_READ: Final = "input_cached_tokens"
LANGFUSE_CACHE_WRITE: Final = "input_cache_creation"
LANGFUSE_OUTPUT: Final = "output"
LANGFUSE_TOTAL: Final = "total"
# Logfire (a genai-prices convention): USD, summed by its SQL, dashboards and alerts.
LOGFIRE_OPERATION_COST: Final = "operation.cost"
# OpenInference (Phoenix): USD; prompt = its input, cache read and cache write parts.
OPENINFERENCE_COST_TOTAL: Final = "llm.cost.total"
OPENINFERENCE_COST_PROMPT: Final = "llm.cost.prompt"
OPENINFERENCE_COST_COMPLETION: Final = "llm.cost.completion"
OPENINFERENCE_COST_PROMPT_INPUT: Final = "llm.cost.prompt_details.input"
OPENINFERENCE_COST_PROMPT_CACHE_READ: Final = "llm.cost.prompt_details.cache_read"
OPENINFERENCE_COST_PROMPT_CACHE_WRITE: Final = "llm.cost.prompt_details.cache_write"
# OpenLIT (and dashboards built on it): USD.
OPENLIT_USAGE_COST: Final = "gen_ai.usage.cost"
# Every compatibility attribute: ours, never an app tag (the local store's tags leave them out).
COMPAT_ATTRIBUTES: Final = (
    LANGFUSE_COST_DETAILS,
    LANGFUSE_USAGE_DETAILS,
    LOGFIRE_OPERATION_COST,
    OPENINFERENCE_COST_TOTAL,
    OPENINFERENCE_COST_PROMPT,
    OPENINFERENCE_COST_COMPLETION,
    OPENINFERENCE_COST_PROMPT_INPUT,
    OPENINFERENCE_COST_PROMPT_CACHE_READ,
    OPENINFERENCE_COST_PROMPT_CACHE_WRITE,
    OPENLIT_USAGE_COST,
)

# --- span attributes: our own namespace -----------------------------------------------------------
# Parts of the cost, so a bill line can be explained without re-pricing.
GENAI_COST_INPUT_AMOUNT: Final = "genai_cost.cost.input"
GENAI_COST_OUTPUT_AMOUNT: Final = "genai_cost.cost.output"
GENAI_COST_CACHE_READ_AMOUNT: Final = "genai_cost.cost.cache_read"
GENAI_COST_CACHE_WRITE_AMOUNT: Final = "genai_cost.cost.cache_write"
# The price data that priced the call ("genai-prices 0.2.3", "+prices.yaml@<sha256 prefix>" with an
# override file), kept in the store so history can be re-priced and told apart (`genai-cost reprice`).
GENAI_COST_PRICE_VERSION: Final = "genai_cost.cost.price_version"
# True when the span has tokens but no price could be found for its model.
GENAI_COST_UNPRICED: Final = "genai_cost.unpriced"
# Why a span is unpriced when it is not the model: e.g. "price file invalid" (PriceBook.unpriced_reason).
GENAI_COST_UNPRICED_REASON: Final = "genai_cost.unpriced.reason"
# Set when a stream ended without the provider reporting usage (tokens are then absent, never 0).
GENAI_COST_USAGE_MISSING: Final = "genai_cost.usage.missing"
# Set when token numbers were estimated (only when the user opted in to estimation).
GENAI_COST_USAGE_ESTIMATED: Final = "genai_cost.usage.estimated"
# Anthropic reports cache writes split by TTL; kept visible so pricing never double counts.
GENAI_COST_CACHE_CREATION_5M_TOKENS: Final = "genai_cost.usage.cache_creation.5m.input_tokens"
GENAI_COST_CACHE_CREATION_1H_TOKENS: Final = "genai_cost.usage.cache_creation.1h.input_tokens"
# Gemini: tokens of tool-use prompts, counted as input.
GENAI_COST_TOOL_USE_PROMPT_TOKENS: Final = "genai_cost.usage.tool_use_prompt.input_tokens"
# True on a call the SDK rejected before sending any request (bad arguments): not a provider call, so
# not in the metrics nor the store.
GENAI_COST_NOT_SENT: Final = "genai_cost.request.not_sent"
# True when the stream was cut short by the app (break, close) before the provider finished.
GENAI_COST_STREAM_INCOMPLETE: Final = "genai_cost.stream.incomplete"

# --- which name priced a call, a cost the provider stated, why a stream has no usage -----------------
# The model name that priced the call, when it is not gen_ai.response.model: the response named a model
# the price data does not know (davinci-002 answered as "davinci:2023-07-21-v2"), the request's priced it.
GENAI_COST_PRICING_MODEL: Final = "genai_cost.pricing.model"
# gen_ai.usage.cost.source when the provider stated the call's cost itself (OpenRouter's usage.cost):
# that amount is the cost, passed through unchanged.
COST_SOURCE_PROVIDER: Final = "provider"
# Our own estimate (USD) of a call whose cost the provider stated, kept beside it for comparison.
GENAI_COST_COST_ESTIMATE: Final = "genai_cost.cost.estimate"
# Why a stream carries no usage, when genai-cost knows (an Azure api-version that rejects
# stream_options, so usage was not asked for); beside genai_cost.usage.missing.
GENAI_COST_USAGE_MISSING_REASON: Final = "genai_cost.usage.missing.reason"
# --- span attributes: how the call was served (issue 15; what the response says, not the request) ---
# They select price variants (pricing/served.py) and are stored, so a report can be grouped by them.
# service_tier: OpenAI's response service_tier, Anthropic's usage.service_tier, Gemini (Vertex)
# usage_metadata.traffic_type; processing: "batch" for batch-priced calls; speed: Anthropic's usage.speed;
# inference_geo: Anthropic's usage.inference_geo.
GENAI_COST_PRICING_SERVICE_TIER: Final = "genai_cost.pricing.service_tier"
GENAI_COST_PRICING_PROCESSING: Final = "genai_cost.pricing.processing"
GENAI_COST_PRICING_SPEED: Final = "genai_cost.pricing.speed"
GENAI_COST_PRICING_INFERENCE_GEO: Final = "genai_cost.pricing.inference_geo"
# The size and quality of a DALL-E call's images, "<size>/<quality>" ("1024x1792/hd"): what it is
# billed per image by. From the request (with the API's defaults), since DALL-E makes what is asked.
GENAI_COST_PRICING_IMAGE_OPTION: Final = "genai_cost.pricing.image_option"
# The OpenAI semconv names for the served tier (registry: openai.response.service_tier), and the
# pre-1.37 name other instrumentations still send.
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: Final = "gen_ai.openai.response.service_tier"
# A served dimension with no rate prices the call standard and marks it partial (GENAI_COST_PARTIAL).

# The budget guard (genai_cost/budget): the budget that refused a call (error.type=BudgetExceeded), and
# the budgets with action: warn that a call went over.
GENAI_COST_BUDGET_NAME: Final = "genai_cost.budget.name"
GENAI_COST_BUDGET_WARNED: Final = "genai_cost.budget.warned"
# Metric attributes of the budget metrics: the budget's name and, for a budget counted per feature,
# model or provider, the key it is counted under (per user/session/tag: left out, cardinality).
GENAI_COST_BUDGET_SCOPE: Final = "genai_cost.budget.scope"

# --- priced units beyond tokens (issue 15 part C) -------------------------------------------------
# Counts a provider bills per use, beside the tokens (no semconv names yet). Audio is in seconds
# (a float); the others are whole counts.
GENAI_COST_WEB_SEARCH_CALLS: Final = "genai_cost.usage.web_search_calls"
GENAI_COST_WEB_FETCH_CALLS: Final = "genai_cost.usage.web_fetch_calls"
GENAI_COST_CODE_EXECUTION_CALLS: Final = "genai_cost.usage.code_execution_calls"
GENAI_COST_FILE_SEARCH_CALLS: Final = "genai_cost.usage.file_search_calls"
GENAI_COST_IMAGES: Final = "genai_cost.usage.images"
GENAI_COST_AUDIO_SECONDS: Final = "genai_cost.usage.audio_seconds"
GENAI_COST_INPUT_CHARACTERS: Final = "genai_cost.usage.input_characters"
# The part of the cost billed per use of those units (tool calls, images, audio, characters).
GENAI_COST_TOOLS_AMOUNT: Final = "genai_cost.cost.tools.amount"
# Set when the call was priced for what is known only: some billed dimension has no rate (a unit
# with no price, an unpriced served tier); the reason names what is missing. Also on the cost metric
# (the flag only, low cardinality), so dashboards can count partially priced calls.
GENAI_COST_PARTIAL: Final = "genai_cost.cost.partial"
GENAI_COST_PARTIAL_REASON: Final = "genai_cost.cost.partial_reason"

# --- business tags (genai_cost.feature) -----------------------------------------------------------
FEATURE_NAME: Final = "feature.name"
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"

# --- operation names (gen_ai.operation.name values) ------------------------------------------------
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_COUNT_TOKENS: Final = "count_tokens"  # not in semconv yet; our name for pre-counting calls
OP_TRANSCRIPTION: Final = "transcription"  # not in semconv yet
OP_SPEECH: Final = "speech"  # not in semconv yet: text to speech
OP_IMAGE_GENERATION: Final = "image_generation"  # not in semconv yet

# --- provider names (gen_ai.provider.name values) ---------------------------------------------------
PROVIDER_OPENAI: Final = "openai"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_GROQ: Final = "groq"
PROVIDER_GEMINI: Final = "gcp.gemini"
PROVIDER_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"

# --- token types (gen_ai.token.type values) ----------------------------------------------------------
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# --- rate limits: what counts as one, defined once -----------------------------------------------------
# The SDK exception class name is used as error.type; a 429 raised as a generic class (google-genai's
# ClientError) is reported as RATE_LIMIT_ERROR_TYPE. The boolean is on our spans too, so the store and
# dashboards count rate limits across providers whatever the class is called.
GENAI_COST_RATE_LIMITED: Final = "genai_cost.rate_limited"
RATE_LIMIT_ERROR_TYPE: Final = "RateLimitError"
# error.type values that mean a rate limit, ours and other instrumentations' (openai/groq/anthropic
# RateLimitError, Google ResourceExhausted, TooManyRequests, a bare "429"): a PromQL/RE2 regex
# (anchored, as PromQL label matchers are), used by the store, the recording rules and dashboards.
RATE_LIMITED_ERROR_TYPES: Final = "(?i).*(RateLimit|ResourceExhausted|TooManyRequests).*|429"

# --- metrics ----------------------------------------------------------------------------------------
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
# The cost metric as the cost proposal names it (open-telemetry/semantic-conventions-genai PR #443, head
# 80325bb): a histogram in the currency of gen_ai.usage.cost.currency, which is required on every point
# with gen_ai.usage.cost.source. Prometheus: gen_ai_client_operation_cost_{bucket,sum,count}.
METRIC_COST: Final = "gen_ai.client.operation.cost"
METRIC_UNPRICED: Final = "genai_cost.client.unpriced"  # counter of calls with tokens but no price
# Counter of input tokens served from a prompt cache (gen_ai.usage.cache_read.input_tokens), a part of the
# token histogram's input: the conventions have no token type for it, and a third type there would be
# counted twice by anything that sums every type. Cache hit rate = this / input tokens.
METRIC_CACHE_READ_TOKENS: Final = "genai_cost.client.token.cache_read"
# Budget guard: calls refused before they were sent, and what a budget has left (limit - spent - reserved).
METRIC_BUDGET_BLOCKED: Final = "genai_cost.budget.blocked"
METRIC_BUDGET_REMAINING: Final = "genai_cost.budget.remaining"

UNIT_TOKEN: Final = "{token}"
UNIT_SECONDS: Final = "s"
UNIT_COST: Final = "{cost}"  # the proposal's unit: an annotation, the currency is an attribute
UNIT_CALL: Final = "{call}"
# USD or tokens, as the budget says (an annotation, so Prometheus adds no unit suffix).
UNIT_BUDGET: Final = "{budget_unit}"

# Bucket boundaries the GenAI semantic conventions advise.
TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
# No advice exists for cost; powers of ~4 from a hundredth of a cent to $100 cover one call.
COST_BUCKETS: Final = (
    0.00001,
    0.00005,
    0.0001,
    0.0005,
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.5,
    1.0,
    5.0,
    10.0,
    50.0,
    100.0,
)

# Attributes allowed on metrics (low cardinality). user.id/session.id are added only when opted in.
METRIC_ATTRIBUTES: Final = (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    SERVER_ADDRESS,
    FEATURE_NAME,
    ERROR_TYPE,
)

# --- older names still sent by other instrumentations (read by the cost span processor) --------------
# The processor prices spans of instrumentations that predate gen_ai.provider.name and the
# input/output token names; the anthropic SDK's own spans name cache writes the older way.
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
