"""Per-user usage across providers: each user brings their own provider (modelled on our seeds).

Users pick OpenAI, Anthropic or Groq; every call is tagged with the user and the feature, so the
report answers "what did each user cost over 7/30/90 days" without a usage table of our own.

    opentelemetry-instrument python examples/multi_provider_usage.py
"""

from __future__ import annotations

import argparse

import anthropic
import groq
import openai

from genai_cost import feature

USERS = {
    "user-ana": ("openai", "gpt-4o-mini"),
    "user-ben": ("anthropic", "claude-3-haiku-20240307"),
    "user-chen": ("groq", "llama-3.3-70b-versatile"),
}
FEATURES = {
    "portfolio_chat": "What projects are in my portfolio?",
    "resume_generation": "Write a resume summary for a data engineer.",
    "cover_letter": "Draft a short cover letter for a platform team.",
}


def call(provider: str, model: str, prompt: str) -> None:
    messages = [{"role": "user", "content": prompt}]
    if provider == "anthropic":
        anthropic.Anthropic().messages.create(model=model, max_tokens=400, messages=messages)
    elif provider == "groq":
        groq.Groq().chat.completions.create(model=model, max_tokens=400, messages=messages)
    else:
        openai.OpenAI().chat.completions.create(model=model, max_tokens=400, messages=messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.rounds):
        for user, (provider, model) in USERS.items():
            for name, prompt in FEATURES.items():
                with feature(name, user_id=user):
                    call(provider, model, prompt)
    print(f"multi_provider_usage: {args.rounds} rounds for {len(USERS)} users")


if __name__ == "__main__":
    main()
