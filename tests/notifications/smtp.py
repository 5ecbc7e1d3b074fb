"""A local SMTP server for the Mailer's tests: aiosmtpd's Controller (a real server on
127.0.0.1, in its own thread), keeping every message it accepts. It can be started on a port
chosen before (the test of SMTP down, then up)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return " ".join(str(self.message["Subject"]).split())  # unfolded, as a mail client shows it


@dataclass
class SmtpServer:
    port: int = 0
    received: list[Mail] = field(default_factory=list)
    controller: Controller | None = None

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos),
                                  message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpServer:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
