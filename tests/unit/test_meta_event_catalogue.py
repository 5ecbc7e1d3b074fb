"""whatsapp/event_kinds.py: the catalogue names every webhook field Meta documents for a
WhatsApp Business Account, each applied (and then routed by the inbound loop) or counted and
reported as not used, in words; docs/meta-events.md lists the same. And a batch's counts."""

from __future__ import annotations

import re
from pathlib import Path

from wacast.whatsapp import event_kinds
from wacast.whatsapp.event_kinds import OTHER, FieldCounts, field_name
from wacast.whatsapp.inbound import TEMPLATE_FIELDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "meta-events.md"
# Meta's webhooks reference (fields of a WhatsApp Business Account), 2026.
META_FIELDS = {
    "messages", "message_template_status_update", "message_template_quality_update", "message_template_components_update",
    "template_category_update", "account_update", "account_review_update", "account_alerts", "business_capability_update",
    "phone_number_name_update", "phone_number_quality_update", "security", "flows", "message_echoes", "smb_message_echoes",
    "smb_app_state_sync", "history", "user_preferences", "group_lifecycle_update", "group_participants_update",
    "group_settings_update", "group_status_update", "calls", "partner_solutions", "payment_configuration_update",
    "automatic_events", "messaging_handovers", "tracking_events",
}


def test_every_field_meta_documents_is_in_the_catalogue_with_words():
    assert {info.field for info in event_kinds.CATALOGUE} == META_FIELDS
    assert len(event_kinds.CATALOGUE) == len(META_FIELDS)  # each once
    for info in event_kinds.CATALOGUE:
        assert info.what and info.how and not info.how.endswith("."), info.field


def test_applied_means_the_inbound_loop_routes_it():
    # whatsapp/inbound.py process_body: messages and user_preferences, the template fields, account_update.
    assert event_kinds.APPLIED == {"messages", "user_preferences", "account_update", "phone_number_quality_update", *TEMPLATE_FIELDS}


def test_the_docs_list_the_same_fields():
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| (applied|counted, not used) \|", DOC.read_text(), re.M))
    assert rows == {info.field: "applied" if info.applied else "counted, not used" for info in event_kinds.CATALOGUE}


def test_a_field_meta_adds_later_is_reported_not_used():
    info = event_kinds.about("brand_new_field")
    assert not info.applied and "does not know" in info.how


def test_a_batch_counts_one_row_per_field():
    counts = FieldCounts()
    counts.add("messages", True, 40)
    counts.add("security", False)
    counts.add("security", False)
    counts.add("messages", False)  # an event of a used field that could not be applied: the field stays used
    counts.add("Bad Field!\x00", False)
    counts.add("x" * 500, False)
    assert counts.rows() == [(OTHER, False, 2), ("messages", True, 41), ("security", False, 2)]
    assert field_name("group_lifecycle_update") == "group_lifecycle_update" and field_name(None) == OTHER
