"""The secret that signs tokens: from settings, or generated once into the data folder."""
from __future__ import annotations

from pathlib import Path

from ..system.files import token_file

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
    token = token_file(path, 32, 0o600)      # readable by its owner only
    if not token:
        raise ValueError(f"{path} is empty: delete it, or set secret_key")
    return token.encode()
