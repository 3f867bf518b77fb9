"""google-genai automatic function calling: every request of a call counted, not just the last.

With Python functions among its tools, non-stream ``generate_content`` sends one request per round of
function calls and returns the last response only, whose usage is that request's alone. Every
request goes through the private ``Models._generate_content``, so that method is wrapped too, lightly:
for a call that may loop (``watch``, from the adapter's ``on_start``), each request's usage is kept,
and the call gets their sum. On an SDK without that method the call keeps the last request's usage.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING, Any

from genai_cost._internal import log_internal_error
from genai_cost.instrumentation.core import current_invocation
from genai_cost.instrumentation.fields import get
from genai_cost.usage import Usage, plus

if TYPE_CHECKING:
    from genai_cost.instrumentation.core import Invocation

REQUEST_METHOD = "_generate_content"  # what the SDK's function-calling loop calls once per request

# Call that may loop -> the usage metadata of each request it sent so far. Weak keys: an entry left by a
# call that raised goes with it.
_requests: weakref.WeakKeyDictionary[Invocation, list[Any]] = weakref.WeakKeyDictionary()


def may_call_functions(config: Any) -> bool:
    """Python functions among the tools: the SDK may then call them and send more requests."""
    tools = get(config, "tools")
    return isinstance(tools, list) and any(callable(tool) for tool in tools)


def watch(invocation: Invocation) -> None:
    _requests[invocation] = []


def forget(invocation: Invocation) -> None:
    _requests.pop(invocation, None)


def _note_request(response: Any) -> None:
    if not _requests:  # no call that may loop is in flight: the usual case costs one check
        return
    try:
        invocation = current_invocation()
        requests = _requests.get(invocation) if invocation is not None else None
        if requests is not None:
            requests.append(get(response, "usage_metadata"))
    except Exception:
        log_internal_error("reading a function-calling request")


def request_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = wrapped(*args, **kwargs)
    _note_request(response)
    return response


async def async_request_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    response = await wrapped(*args, **kwargs)
    _note_request(response)
    return response


def all_requests(
    invocation: Invocation, usage: Usage | None, read_usage: Callable[[Any], Usage | None]
) -> Usage | None:
    """The summed usage of every request the call sent, when there was more than one."""
    if not _requests:
        return usage
    requests = _requests.pop(invocation, None)
    if requests is None or len(requests) < 2:
        return usage
    return reduce(plus, map(read_usage, requests))
