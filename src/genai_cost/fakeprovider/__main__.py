"""``python -m genai_cost.fakeprovider --port 0``: print the base URLs, then serve until killed."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

from genai_cost.fakeprovider.server import FakeProviderServer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genai_cost.fakeprovider",
        description="Serve fake OpenAI, Anthropic, Groq and Gemini APIs on one local port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream events")
    parser.add_argument("--json", action="store_true", help="print the base URLs as one JSON line")
    args = parser.parse_args(argv)

    server = FakeProviderServer(args.host, args.port, chunk_delay=args.chunk_delay).start()
    urls = {"url": server.url, **server.base_urls()}
    if args.json:
        print(json.dumps(urls), flush=True)
    else:
        for name, url in urls.items():
            print(f"{name}: {url}", flush=True)

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
