"""Child processes that do not outlive their parent."""
from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent(parent: int) -> None:
    """Linux: SIGTERM when the parent dies, so a parent killed with SIGKILL leaves no child
    behind (a server process, the helper process of api/heavy.py)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:      # it died before the call took effect
        os.kill(os.getpid(), signal.SIGTERM)
