"""Every table of wacast, one module per domain (the schema; `Base.metadata` is complete once
this package is imported: Alembic, tests, the secret rotation).

Tables sit on their own floor, below the domains, so a repository may join any table it needs
(a message's campaign name, a segment's campaign outcomes) without importing another domain's
logic. Each domain's repository owns the queries; these modules hold no behaviour."""

from wacast.db.base import Base
from wacast.models import accounts, billing, consent, links, media, meta_events, notifications, quality  # noqa: F401  (their tables join Base.metadata)
from wacast.models.api_keys import ApiKey
from wacast.models.broadcasts import BroadcastRecipient, SendPolicy
from wacast.models.campaigns import Campaign, CampaignStatus
from wacast.models.contact_imports import ContactImport
from wacast.models.contacts import AttributeDefinition, Contact, ContactTag, Tag
from wacast.models.idempotency import IdempotencyKey
from wacast.models.messages import (
    InboundEvent,
    Message,
    MessageEvent,
    MessageReaction,
    MessageStatus,
    Reply,
)
from wacast.models.projects import Project, SenderLease, Worker
from wacast.models.segments import Segment
from wacast.models.templates import Template
from wacast.models.users import Membership, User
from wacast.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "ApiKey", "AttributeDefinition", "Base", "BroadcastRecipient", "Campaign", "CampaignStatus", "Contact", "ContactImport",
    "ContactTag", "IdempotencyKey", "InboundEvent", "Membership", "Message", "MessageEvent", "MessageReaction", "MessageStatus", "Project", "Reply",
    "SenderLease", "Segment", "SendPolicy", "Tag", "Template", "User", "WebhookAttempt", "WebhookDelivery", "WebhookEvent",
    "WebhookSubscription", "Worker",
]
