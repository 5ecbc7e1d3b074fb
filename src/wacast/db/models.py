"""Imports every table so that Base.metadata is complete (Alembic, tests)."""

from wacast.api_keys.models import ApiKey
from wacast.campaigns.models import Campaign
from wacast.campaigns.broadcast_models import BroadcastRecipient, SendPolicy
from wacast.contacts.segments import Segment
from wacast.contacts.models import AttributeDefinition, Contact, ContactTag, Tag
from wacast.contacts.import_models import ContactImport  # noqa: F401
from wacast.db.base import Base
from wacast.messages.models import InboundEvent, Message, MessageEvent, Reply
from wacast.projects.models import Project, SenderLease, Worker
from wacast.templates.models import Template
from wacast.users.models import Membership, User
from wacast.webhooks.models import IdempotencyKey, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription  # noqa: F401

__all__ = [
    "ApiKey", "AttributeDefinition", "BroadcastRecipient", "Segment", "SendPolicy", "Base", "Campaign", "Contact", "ContactTag", "InboundEvent",
    "Membership", "Message", "MessageEvent", "Project", "Reply", "SenderLease", "Tag", "Template", "User", "Worker",
]
