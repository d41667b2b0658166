"""Container healthcheck for ``opengp worker``: does this machine's worker answer a control ping?

Usage: ``python worker_health.py [CONFIG]``.  It reads the same settings as the worker
(``OPENGP_*`` and the config file), pings the deployment's workers (broadcasts reach only
this deployment's, on the control exchange named after ``queue_prefix``) and succeeds when
a node named ``opengp<pid>@<this host name>`` answers within two seconds.
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path

from opengp.config import load_settings
from opengp.executors.celery_app import make_celery


def main() -> int:
    settings = load_settings(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    app = make_celery(settings)
    try:
        replies = app.control.ping(timeout=2.0)
    finally:
        app.close()
    here = "@" + socket.gethostname()
    return 0 if any(node.endswith(here) for reply in replies for node in reply) else 1


if __name__ == "__main__":
    sys.exit(main())
