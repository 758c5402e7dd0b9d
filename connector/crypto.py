"""Platform credentials and webhook secrets at rest: MultiFernet, so keys can rotate.

Keys come from RELANCE_SECRET_KEYS (comma-separated, newest first). For the embedded default a
key is generated once into ``var/secret.key`` (mode 0600) — only while the store holds no
encrypted secret: a lost key file must never be silently replaced by a new one that opens nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.config import Settings


class SecretError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


class KeyFileMissing(SecretError):
    """var/secret.key is gone while the store still holds secrets encrypted with it."""


class SecretBox:
    def __init__(self, keys: list[str] | tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretError("cannot decrypt a stored secret with the configured keys") from exc

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, sort_keys=True))

    def decrypt_json(self, token: str) -> dict[str, Any]:
        value = json.loads(self.decrypt(token))
        if not isinstance(value, dict):
            raise SecretError("stored credentials are not an object")
        return value

    def rotate(self, token: str) -> str:
        """Re-encrypt with the newest key (after adding one in front of RELANCE_SECRET_KEYS)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretError("cannot decrypt a stored secret with the configured keys") from exc


def local_key(var_dir: Path, stored_secrets: Callable[[], int] = lambda: 0) -> str:
    """The embedded default's key, generated on first use and kept private. ``stored_secrets``
    counts the connections holding encrypted secrets: with any, a missing file is an error."""
    path = var_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    held = stored_secrets()
    if held:
        raise KeyFileMissing(
            f"{path} is missing but the store holds encrypted secrets for {held} "
            "connection(s): restore the key file or set RELANCE_SECRET_KEYS"
        )
    var_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    try:
        os.link(tmp, path)  # atomic and refuses to overwrite: the first process to link wins
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink()
    return key


def secret_box(settings: Settings, stored_secrets: Callable[[], int]) -> SecretBox:
    return SecretBox(settings.secret_keys or (local_key(settings.var_dir, stored_secrets),))
