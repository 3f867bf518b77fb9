"""AI interview loop on Groq's llama-3.3-70b-versatile (modelled on the interview app in our seeds).

Per interview session: a greeting, then for each answer a follow-up question (JSON) and a mistake
analysis, then a performance summary. Runs unchanged under `opentelemetry-instrument`; genai-cost
only needs the `feature(...)` tags to attribute cost to sessions and features.

    GROQ_API_KEY=... opentelemetry-instrument python examples/interview_groq.py            # groq SDK
    GROQ_API_KEY=... opentelemetry-instrument python examples/interview_groq.py openai  # OpenAI SDK on Groq
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from genai_cost import feature

MODEL = "llama-3.3-70b-versatile"
FALLBACK_QUESTION = "Tell me about a project you are proud of."
RESUME = (
    "Backend engineer, 6 years: Python, PostgreSQL, Kafka; led a payments migration; mentors two juniors."
)
ANSWERS = [
    "I designed an idempotent payment retry service using Kafka and an outbox table.",
    "We cut p99 latency from 900 ms to 120 ms by batching database writes.",
    "I disagreed with a deadline once and proposed a smaller first release instead.",
]


def make_client(sdk: str) -> tuple[Any, type[Exception]]:
    if sdk == "groq":
        import groq

        return groq.Groq(), groq.RateLimitError  # GROQ_API_KEY / GROQ_BASE_URL from the environment
    import openai

    client = openai.OpenAI(
        base_url=os.environ.get("GROQ_OPENAI_BASE_URL", "https://api.groq.com/openai/v1"),
        api_key=os.environ["GROQ_API_KEY"],
    )
    return client, openai.RateLimitError


class Interviewer:
    def __init__(self, client: Any, rate_limit_error: type[Exception]) -> None:
        self.client = client
        self.rate_limit_error = rate_limit_error

    def ask(self, system: str, user: str, json_mode: bool = False, max_tokens: int = 300) -> str | None:
        """The model's answer, or None when Groq rate-limits us (the seed app then uses canned text)."""
        try:
            response = self.client.chat.completions.create(
                model=MODEL,
                temperature=0.7,
                max_tokens=max_tokens,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                **({"response_format": {"type": "json_object"}} if json_mode else {}),
            )
        except self.rate_limit_error:
            return None
        return response.choices[0].message.content or ""

    def interview(self, candidate: str, session: str) -> None:
        with feature("interview_greeting", user_id=candidate, session_id=session):
            self.ask("You are a friendly professional interviewer.", f"Greet the candidate. Resume: {RESUME}")
        history: list[str] = []
        for answer in ANSWERS:
            history.append(answer)
            with feature("interview_question", user_id=candidate, session_id=session):
                raw = self.ask(
                    "Reply with JSON: reaction, follow_up_question, score, feedback, topic.",
                    f"Resume: {RESUME}\nLast answers: {history[-6:]}",
                    json_mode=True,
                )
            question = FALLBACK_QUESTION
            if raw and raw.startswith("{"):
                question = json.loads(raw).get("follow_up_question", FALLBACK_QUESTION)
            elif raw:
                question = raw
            with feature("mistake_detection", user_id=candidate, session_id=session):
                self.ask(
                    "Detect rambling or off-topic answers.", f"Q: {question}\nA: {answer}", max_tokens=100
                )
        with feature("performance_summary", user_id=candidate, session_id=session):
            self.ask("Summarise the interview performance.", "\n".join(history), max_tokens=500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # A positional argument: opentelemetry-instrument would read an option such as --sdk as its own.
    parser.add_argument(
        "sdk", nargs="?", choices=["groq", "openai"], default="groq", help="SDK used to reach Groq"
    )
    parser.add_argument("--sessions", type=int, default=2)
    args = parser.parse_args()
    interviewer = Interviewer(*make_client(args.sdk))
    for i in range(args.sessions):
        interviewer.interview(candidate=f"candidate-{i + 1}", session=f"interview-{args.sdk}-{i + 1}")
    with feature("resume_analysis", user_id="candidate-1"):
        interviewer.ask(
            "You are a career coach. Reply in JSON.", f"Analyse this resume: {RESUME}", json_mode=True
        )
    print(f"interview_groq ({args.sdk} SDK): {args.sessions} interview sessions done")


if __name__ == "__main__":
    main()
