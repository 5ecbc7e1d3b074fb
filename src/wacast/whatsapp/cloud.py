"""The Cloud API provider: sends each message through Meta's Graph API."""

from __future__ import annotations

from typing import Any

from wacast.messages.provider import OutgoingMessage, SendResult
from wacast.meta.client import GraphClient
from wacast.meta.types import build_message_body


class CloudProvider:
    name = "cloud"

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def send(self, project: Any, message: OutgoingMessage, template: Any) -> SendResult:
        return await self.client.send_message(project.phone_number_id, project.access_token, build_message_body(message))

    async def close(self) -> None:
        await self.client.close()
