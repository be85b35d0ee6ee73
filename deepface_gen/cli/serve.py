"""`deepface-gen serve`: the HTTP API and web page on a local port."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from deepface_gen.cli import common

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from deepface_gen.generation.generator import FaceGenerator
    from deepface_gen.serving import jobs
    from deepface_gen.serving.app import create_app
    from deepface_gen.serving.limits import Limits

    limits = Limits(
        max_faces=args.max_faces,
        max_steps=args.max_steps,
        max_upload_bytes=args.max_upload_mb * 1_000_000,
        max_pixels=int(args.max_megapixels * 1_000_000),
        request_seconds=args.request_seconds,
        batch_window_ms=args.batch_window_ms,
        max_batch_faces=args.max_batch,
    )
    generator = FaceGenerator.load(args.model)
    if not args.no_warm:
        print(f"deepface-gen: warming {args.model} (batches up to {args.max_batch})", flush=True)
        started = time.perf_counter()
        jobs.warm(generator, args.max_batch, edit_steps=None, quiet=args.quiet)
        print(f"deepface-gen: warm in {time.perf_counter() - started:.1f} s", flush=True)
    if args.host not in LOOPBACK:
        print(
            f"deepface-gen: warning: serving on {args.host}: anyone who can reach this machine "
            "can use the model (there is no authentication)",
            file=sys.stderr,
        )
    app = create_app(generator, limits, model_name=args.model)
    # Uploads that spill to disk land in a folder of our own, removed when we stop.
    with tempfile.TemporaryDirectory(prefix="deepface-gen-serve-") as scratch:
        tempfile.tempdir = scratch
        print(f"deepface-gen: ready on http://{args.host}:{args.port} (API docs at /docs)")
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        tempfile.tempdir = None
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command(s) to the ``deepface-gen`` parser."""
    from deepface_gen.serving.limits import DEFAULT_LIMITS

    d = DEFAULT_LIMITS
    p = sub.add_parser("serve", help="an HTTP API and a web page for generate, edit and score")
    p.add_argument("--model", default="starter", help="model name or bundle path")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=common.whole(1, 65535), default=8000)
    p.add_argument(
        "--max-faces", type=common.whole(1, 1024), default=d.max_faces, help="faces a request"
    )
    p.add_argument(
        "--max-steps", type=common.whole(1, 10_000), default=d.max_steps, help="steps a request"
    )
    p.add_argument(
        "--max-upload-mb", type=common.whole(1, 1000), default=d.max_upload_bytes // 1_000_000
    )
    p.add_argument("--max-megapixels", type=common.real(0.01, 64), default=d.max_pixels / 1e6)
    p.add_argument(
        "--request-seconds",
        type=common.real(0.1, 3600),
        default=d.request_seconds,
        help="wall time a request may wait and run",
    )
    p.add_argument(
        "--batch-window-ms",
        type=common.real(0, 1000),
        default=d.batch_window_ms,
        help="how long a batch waits for requests still arriving",
    )
    p.add_argument(
        "--max-batch",
        type=common.whole(1, 1024),
        default=d.max_batch_faces,
        help="faces in one batched call",
    )
    p.add_argument("--no-warm", action="store_true", help="start without compiling first")
    p.add_argument("--quiet", action="store_true", help="no progress bar while warming")
    p.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug")
    )
    p.set_defaults(func=run)
