"""Parallel video transcription and one batch analysis on Gemini (modelled on our seeds' HR app).

Five answers of one interview are transcribed at once in a thread pool, then analysed in a single
call. `with_current_context` carries the interview's tags into the pool threads. Each answer goes to
Gemini as an inline audio part next to the instruction, as the real app sends its recordings: Gemini
bills audio input at its own rate ($1.00 vs $0.30 per million tokens on 2.5 Flash), and genai-cost
prices it so from the response's per-modality token counts.

    GOOGLE_API_KEY=... opentelemetry-instrument python examples/gemini_transcription.py
"""

from __future__ import annotations

import argparse
import io
import wave
from concurrent.futures import ThreadPoolExecutor

from google import genai
from google.genai import types

from genai_cost import feature, with_current_context

MODEL = "gemini-2.5-flash"


def answer_audio(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A stand-in for a recorded answer: a short silent WAV, tiny but valid, so the example also runs
    against the real Gemini API. A real app sends the recording's bytes (or uploads long ones with
    ``client.files.upload`` and passes the file)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def transcribe(client: genai.Client, interview: str, video: int) -> str:
    response = client.models.generate_content(
        model=MODEL,
        contents=[
            types.Part.from_bytes(data=answer_audio(), mime_type="audio/wav"),
            f"Transcribe the candidate's answer video {video} of {interview} verbatim.",
        ],
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
