"""``python -m anytune_openai.testing``: run the fake OpenAI server until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from anytune_openai.testing.server import TEST_API_KEY, FakeOpenAIServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m anytune_openai.testing",
        description="A local fake of OpenAI's fine-tuning API (for demos and benchmarks).",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--api-key",
        default=None,
        help="the only key accepted (default: any key; the banner suggests one)",
    )
    parser.add_argument("--steps", type=int, default=6, help="training steps per job")
    parser.add_argument(
        "--advance",
        choices=["poll", "time"],
        default="time",
        help="jobs advance per GET of the job, or with time (default)",
    )
    parser.add_argument("--tick-seconds", type=float, default=0.5, help="seconds per step")
    args = parser.parse_args(argv)
    if args.advance == "time" and not args.tick_seconds > 0:
        parser.error("--tick-seconds must be > 0")
    server = FakeOpenAIServer(
        api_key=args.api_key,
        port=args.port,
        total_steps=args.steps,
        advance=args.advance,
        tick_seconds=args.tick_seconds,
    ).start()
    # KEY=VALUE lines, ready for `export`; what is accepted goes to stderr.
    print(f"OPENAI_BASE_URL={server.url}", flush=True)
    print(f"OPENAI_API_KEY={args.api_key or TEST_API_KEY}", flush=True)
    accepted = "only this key" if args.api_key else "any key (--api-key KEY to require one)"
    print(f"fake OpenAI server: accepting {accepted}; Ctrl-C stops it", file=sys.stderr)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started in the background (SIGINT ignored)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        counts: dict[str, int] = {}
        for request in server.requests:
            counts[request.route] = counts.get(request.route, 0) + 1
        for route, n in sorted(counts.items()):
            print(f"{n:6d}  {route}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
