"""The secret that signs tokens: from settings, or generated once into the data folder."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

SECRET_FILE = "secret.key"


def load_secret(secret_key: str | None, data_dir: Path) -> bytes:
    """``secret_key`` (every server of a deployment must share it) or the data folder's
    ``secret.key``, created readable by its owner only on first use."""
    if secret_key:
        secret = secret_key.encode()
        if len(secret) < 32:
            raise ValueError("secret_key needs at least 32 characters")
        return secret
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    # servers starting together (``serve --processes N``): the losers may find the winner's
    # file created but not yet written, and wait for it rather than sign with an empty key
    deadline = time.monotonic() + 5
    while not (secret := path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    if not secret:
        raise ValueError(f"{path} is empty: delete it, or set secret_key")
    return secret.encode()
