"""Parallel video transcription and one batch analysis on Gemini (modelled on our seeds' HR app).

Five answers of one interview are transcribed at once in a thread pool, then analysed in a single
call. `with_current_context` carries the interview's tags into the pool threads.

    GOOGLE_API_KEY=... opentelemetry-instrument python examples/gemini_transcription.py
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

from google import genai
from google.genai import types

from genai_cost import feature, with_current_context

MODEL = "gemini-2.5-flash"


def transcribe(client: genai.Client, interview: str, video: int) -> str:
    response = client.models.generate_content(
        model=MODEL,
        contents=f"Transcribe the candidate's answer video {video} of {interview} verbatim.",
        config=types.GenerateContentConfig(temperature=0.0, max_output_tokens=800),
    )
    return response.text or ""


def process_interview(client: genai.Client, interview: str, hr_user: str) -> None:
    with (
        feature("transcription", user_id=hr_user, session_id=interview),
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        transcripts = list(
            pool.map(with_current_context(lambda v: transcribe(client, interview, v)), range(1, 6))
        )
    with feature("batch_analysis", user_id=hr_user, session_id=interview):
        client.models.generate_content(
            model=MODEL,
            contents="Score each answer for clarity and relevance:\n" + "\n---\n".join(transcripts),
            config=types.GenerateContentConfig(response_mime_type="application/json", max_output_tokens=1500),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interviews", type=int, default=2)
    args = parser.parse_args()
    client = genai.Client()  # GOOGLE_API_KEY and GOOGLE_GEMINI_BASE_URL from the environment
    for i in range(args.interviews):
        process_interview(client, interview=f"video-interview-{i + 1}", hr_user="hr-alice")
    print(f"gemini_transcription: {args.interviews} interviews transcribed and analysed")


if __name__ == "__main__":
    main()
