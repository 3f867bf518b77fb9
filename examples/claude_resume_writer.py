"""Resume writer on Claude: count tokens first, then generate; the long answer streams.

Modelled on our seeds' job-search app: parse a job description, write bullets per role, then a long
streamed interview preparation read back with `get_final_message()`.

    ANTHROPIC_API_KEY=... opentelemetry-instrument python examples/claude_resume_writer.py
"""

from __future__ import annotations

import argparse

import anthropic

from genai_cost import feature

MODEL = "claude-sonnet-4-5"
JOB = "Senior Python engineer, payments platform: Kafka, PostgreSQL, on-call, mentoring."
ROLES = ["Acme Payments (2021-2025)", "Globex Retail (2018-2021)", "Initech (2016-2018)"]


def generate(client: anthropic.Anthropic, prompt: str, max_tokens: int) -> str:
    messages = [{"role": "user", "content": prompt}]
    client.messages.count_tokens(model=MODEL, messages=messages)  # the pre-estimate the app logs
    message = client.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages)
    return "".join(block.text for block in message.content if block.type == "text")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=2)
    args = parser.parse_args()
    client = anthropic.Anthropic()  # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL from the environment
    for app in range(1, args.applications + 1):
        user = f"job-seeker-{app}"
        with feature("parse_jd", user_id=user, session_id=f"application-{app}"):
            generate(client, f"Extract the requirements of this job description as JSON: {JOB}", 1000)
        for role in ROLES:
            with feature("resume_bullets", user_id=user, session_id=f"application-{app}"):
                generate(client, f"Write four resume bullets for {role} matching: {JOB}", 600)
    with (
        feature("interview_prep_specific", user_id="job-seeker-1", session_id="application-1"),
        client.messages.stream(
            model=MODEL,
            max_tokens=64000,
            messages=[{"role": "user", "content": f"Prepare STAR answers and deep dives for: {JOB}"}],
        ) as stream,
    ):
        for _ in stream.text_stream:
            pass
        final = stream.get_final_message()
    print(
        f"claude_resume_writer: {args.applications} applications, prep used {final.usage.output_tokens} tokens"
    )


if __name__ == "__main__":
    main()
