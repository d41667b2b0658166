#!/usr/bin/env python3
"""What Celery alone costs on this machine: the floor under issue 6's trivial-job throughput.

    .venv/bin/python bench/celery_bare.py [--messages 20000] [--concurrency 1 2] [--rounds 3]

No HTTP, no database, no opengp code in the task: the app is opengp's own ``make_celery``
(prefetch of one, late acks, prefork), the message is a doorbell's shape (two short
arguments), the task does nothing.  Each round publishes ``--messages`` messages to a scratch
queue (publish rate and the publisher's CPU per message), then starts ``celery worker -c N``
on it and counts how fast the queue drains over 5 s, with the worker's and RabbitMQ's CPU per message.
Writes ``bench/results/<date>-<time>-<host>-celery-bare.json``.
Needs RabbitMQ (``OPENGP_BENCH_BROKER``, default amqp://guest:guest@127.0.0.1:5672//).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import machine_info  # noqa: E402
from scaleout import cpu_of  # noqa: E402
from servers import Server  # noqa: E402

BROKER = os.environ.get("OPENGP_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = os.environ.get("CELERY_BARE_QUEUE", f"opengp-bare{os.getpid()}")


def make_app():
    from opengp.config import Settings
    from opengp.executors.celery_app import make_celery

    # the database is never opened: the URL only satisfies the settings' check
    settings = Settings(broker_url=BROKER, database_url="postgresql+psycopg://unused/unused", queue_prefix=QUEUE)
    app = make_celery(settings)

    @app.task(name="noop", ignore_result=True)
    def noop(service: str, hint: str | None = None) -> None:
        return None

    return app


app = make_app()


def depth() -> int:
    from kombu import Connection

    with Connection(BROKER) as conn:
        return conn.default_channel.queue_declare(QUEUE, passive=True).message_count


class DrainingWorker(Server):
    """A ``celery worker``: nothing to wait for over HTTP; Server gives its process group's CPU
    and its stop."""

    def start(self) -> None:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.cwd, start_new_session=True)


def one_round(messages: int, concurrency: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(messages):
        app.send_task("noop", args=["Bench/Noop", "0" * 32], queue=QUEUE, ignore_result=True)
    publish_s, publish_cpu = time.perf_counter() - t0, time.process_time() - c0
    worker = DrainingWorker(f"celery-bare-c{concurrency}",
                            [sys.executable, "-m", "celery", "-A", "celery_bare", "worker", "-c", str(concurrency),
                             "-Q", QUEUE, "-l", "error", "-P", "prefork", "--without-gossip", "--without-mingle",
                             "--without-heartbeat", "-O", "fair"],
                            "", Path(tempfile.gettempdir()) / f"{QUEUE}.log",
                            env={"CELERY_BARE_QUEUE": QUEUE, "PYTHONPATH": str(HERE)}, cwd=str(HERE))
    worker.start()
    try:
        time.sleep(3)       # started and draining
        d0, w0, r0, t0 = depth(), worker.cpu_seconds(), cpu_of(("beam.smp",)), time.perf_counter()
        time.sleep(5)
        d1, w1, r1, t1 = depth(), worker.cpu_seconds(), cpu_of(("beam.smp",)), time.perf_counter()
    finally:
        worker.stop()
    drained = d0 - d1
    return {"concurrency": concurrency, "publish_per_s": round(messages / publish_s),
            "publish_cpu_ms": round(1000 * publish_cpu / messages, 3),
            "drain_per_s": round(drained / (t1 - t0)), "worker_cpu_ms": round(1000 * (w1 - w0) / max(1, drained), 3),
            "worker_cores": round((w1 - w0) / (t1 - t0), 2),
            "rabbitmq_cpu_ms": round(1000 * (r1 - r0) / max(1, drained), 3), "left": d1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000, help="published per round (must outlast 8 s of draining: 'left' > 0)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from kombu import Connection

    results = []
    try:
        for r in range(args.rounds):
            for n in args.concurrency:
                res = one_round(args.messages, n)
                results.append(res)
                print(json.dumps(res), flush=True)
                with Connection(BROKER) as conn:
                    conn.default_channel.queue_purge(QUEUE)
    finally:
        with Connection(BROKER) as conn:
            conn.default_channel.queue_delete(QUEUE)
    path = HERE / "results" / f"{dt.datetime.now():%Y-%m-%d-%H%M}-{socket.gethostname()}-celery-bare.json"
    path.write_text(json.dumps({"command": "python bench/celery_bare.py " + " ".join(sys.argv[1:]),
                                "machine": machine_info(), "rounds": results}, indent=2) + "\n")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
