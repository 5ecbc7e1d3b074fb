"""The redaction shortcut (kit/logs.py): a line without any cue skips the patterns, so every
secret-naming key and every token shape must still be redacted through it."""

import pytest

from wacast.config import Settings
from wacast.kit import logs

KEYS = [
    "access_token", "accesstoken", "api_key", "apikey", "app_secret", "appsecret", "client_secret",
    "secret_key", "secret", "password", "passwd", "token", "authorization", "x-hub-signature-256", "signature",
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("shape", ["{key}=s3cr3tvalue", '"{key}": "s3cr3tvalue"', "{KEY}: s3cr3tvalue"])
def test_every_secret_key_is_redacted(key, shape):
    line = "GET /x?" + shape.format(key=key, KEY=key.upper())
    out = logs.redact(line)
    assert "s3cr3tvalue" not in out and logs.REDACTED in out


@pytest.mark.parametrize("line, secret", [
    ("Bearer abcdefgh12345", "abcdefgh12345"),
    ("BEARER abcdefgh12345", "abcdefgh12345"),
    ("key wac_AbCdEfGhIjKlMnOpQrSt", "wac_AbCdEfGhIjKlMnOpQrSt"),
    ("EAAGm0PX4ZCpsBAKZAZB1234567890", "EAAGm0PX4ZCpsBAKZAZB1234567890"),
    ("gAAAAABlZx1234567890abcdefghij", "gAAAAABlZx1234567890abcdefghij"),
    ("postgresql+asyncpg://u:hunter22@db/x", "hunter22"),
])
def test_token_shapes_are_redacted(line, secret):
    assert secret not in logs.redact(line)


def test_a_line_without_cues_is_unchanged():
    line = "POST /campaign/t1/api/v2 200 3.2ms"
    assert logs.redact(line) == line


def test_every_secret_setting_is_scrubbed_once_registered():
    settings = Settings(environment="test", secret_key="sk-Zr81mq", meta_app_secret="as-Qv02lp", meta_verify_token="vt-Hn55wd",
                        metrics_token="mt-Lc73ke", smtp_password="mail-Ux19ob")
    values = ["sk-Zr81mq", "as-Qv02lp", "vt-Hn55wd", "mt-Lc73ke", "mail-Ux19ob"]
    assert sorted(logs.settings_secrets(settings)) == sorted(values)
    for secret in logs.settings_secrets(settings):
        logs.register_secret(secret)
    line = logs.redact("smtplib said: 535 auth failed for mail-Ux19ob; token mt-Lc73ke, key sk-Zr81mq")
    assert not any(v in line for v in values) and logs.REDACTED in line
