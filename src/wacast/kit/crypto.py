"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with key rotation.

Keys come from WACAST_SECRET_KEY, a comma-separated list: the first encrypts, every one
decrypts (MultiFernet). A key is either a Fernet key (`wacast secrets generate-key`) or any
long random string, from which a Fernet key is derived with HKDF-SHA256.

`EncryptedString` is a column type: values are encrypted on the way in and decrypted on the
way out, so the rest of wacast only ever sees plaintext. Rows written before encryption was
switched on (plaintext) still read back; `wacast migrate` and `wacast secrets rotate` encrypt
them. Every decrypted value is registered with the log redactor.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text, TypeDecorator

from wacast.config import get_settings
from wacast.kit.logs import register_secret

FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with version byte 0x80, base64


class SecretKeyError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def derive_key(secret: str) -> bytes:
    """A Fernet key: the value itself if it is one, else HKDF-SHA256 of it."""
    secret = secret.strip()
    try:
        raw = base64.urlsafe_b64decode(secret.encode())
        if len(raw) == 32 and len(secret) == 44:
            return secret.encode()
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"wacast", info=b"wacast secrets at rest v1").derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        self.keys = list(keys)
        self.fernet = MultiFernet([Fernet(derive_key(k)) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not is_encrypted(stored):
            return stored  # written before encryption was on; `wacast secrets rotate` encrypts it
        try:
            return self.fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with WACAST_SECRET_KEY: the key that encrypted it is missing "
                "(after a key change, list the new key first and the old one after it, then run `wacast secrets rotate`)"
            ) from None

    def rotate(self, stored: str) -> str:
        """The value encrypted with the first key (plaintext is encrypted)."""
        if not is_encrypted(stored):
            return self.encrypt(stored)
        try:
            return self.fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("a stored secret cannot be decrypted with any key in WACAST_SECRET_KEY") from None


def is_encrypted(value: str) -> bool:
    return value.startswith(FERNET_PREFIX)


_box: SecretBox | None = None


def configure(keys: list[str]) -> SecretBox:
    global _box
    _box = SecretBox(keys)
    for key in keys:
        register_secret(key)
    return _box


def box() -> SecretBox:
    if _box is None:

        return configure(get_settings().secret_keys)
    return _box


class EncryptedString(TypeDecorator):
    """A string column stored Fernet-encrypted (TEXT in the database)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        if value is None or value == "":
            return None if value is None else value
        register_secret(value)
        return box().encrypt(value)

    def process_result_value(self, value, dialect):  # noqa: ANN001
        if value is None or value == "":
            return value
        plain = box().decrypt(value)
        register_secret(plain)
        return plain
