"""What Meta's `account_update` events mean for sending (pure: no I/O; tests/unit/test_account_policy.py).

An event (`value.event`) changes the state wacast keeps for a WhatsApp Business Account (WABA):
its restrictions (each with a type, since when and until when), its ban state, whether Meta
deleted or offboarded it, and its latest policy violation. Every event Meta documents
(webhooks/reference/account_update, 2026) is in EVENTS and every restriction type in
RESTRICTIONS, each with what wacast does about it; anything else is recorded as informational.

What blocks sending (`hold`): a RESTRICTED_BIZ_INITIATED_MESSAGING restriction until it expires
(every send of wacast is a template, i.e. business-initiated), a ban state DISABLE until
REINSTATE, a deleted account until REINSTATE, an offboarded account until ACCOUNT_RECONNECTED.
The hold is checked against the clock wherever it is read, so a restriction lifts at its
expiration with no event from Meta. Restrictions on customer-initiated messaging (replies),
adding phone numbers, calling and utility templates are recorded and shown, never enforced:
wacast sends no session replies, adds no numbers and makes no calls.

An ACCOUNT_RESTRICTION event states the account's restrictions: its `restriction_info`
replaces the ones known (a restriction of the same type keeps its `since`), and an empty list
lifts them all. Meta's body is untrusted: any field may be missing, of the wrong type, huge or
hostile; the readers below keep what is well formed (text capped, control characters removed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

TEXT_MAX = 300  # any text of Meta's kept (remediation, ban date, ...)
SUMMARY_MAX = 500
MAX_RESTRICTIONS = 20  # of one event's restriction_info
VIOLATION_SHOWN_FOR = timedelta(days=30)  # a violation stays on the banner this long
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,59}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_WABA = re.compile(r"[0-9]{1,64}")

# Severities of a notice, strongest first.
BLOCKS, WARNS, SHOWN = "blocks", "warns", "shown"
_ORDER = {BLOCKS: 0, WARNS: 1, SHOWN: 2}


@dataclass(frozen=True)
class RestrictionKind:
    words: str  # what the business cannot do, completing "Meta restricted ..."
    blocks_sending: bool  # wacast holds its sends while it lasts
    effect: str  # what wacast does about it


RESTRICTIONS: dict[str, RestrictionKind] = {
    "RESTRICTED_BIZ_INITIATED_MESSAGING": RestrictionKind(
        "business-initiated messaging (template sends)", True, "wacast holds every send of the number until it lifts"),
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING": RestrictionKind(
        "replies to customer-initiated conversations", False,
        "recorded and shown: wacast sends no session replies, so nothing is held"),
    "RESTRICTED_ADD_PHONE_NUMBER_ACTION": RestrictionKind(
        "adding phone numbers to the account", False, "shown only: sending is not affected"),
    # Meta's older name of the same restriction (the first account_update docs).
    "RESTRICTION_ON_ADD_PHONE_NUMBER_ACTION": RestrictionKind(
        "adding phone numbers to the account", False, "shown only: sending is not affected"),
    "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES": RestrictionKind(
        "sending utility templates through Direct Send", False, "shown only: wacast does not send through Direct Send"),
    "RESTRICTED_UTILITY_TEMPLATES": RestrictionKind(
        "creating utility templates", False, "shown only: approved templates keep sending"),
    "RESTRICTED_BIZ_INITIATED_AND_USER_INITIATED_CALLING": RestrictionKind(
        "making and receiving calls", False, "shown only: wacast makes no calls"),
    "RESTRICTED_BUSINESS_INITIATED_CALLING": RestrictionKind("making calls", False, "shown only: wacast makes no calls"),
    "RESTRICTED_USER_INITIATED_CALLING": RestrictionKind("receiving calls", False, "shown only: wacast makes no calls"),
    "RESTRICTED_USER_INITIATED_CALLING_CALL_BUTTON_HIDDEN": RestrictionKind(
        "the call button (hidden for low pickup rates)", False, "shown only: wacast makes no calls"),
}


def restriction_kind(kind: str) -> RestrictionKind:
    """A restriction type's meaning; one wacast does not know is shown, not enforced."""
    return RESTRICTIONS.get(kind) or RestrictionKind(
        f"something wacast does not know ({kind})", False, "shown only: wacast does not know this restriction")


@dataclass(frozen=True)
class EventKind:
    applies: str  # restriction | ban | violation | deleted | offboarded | reconnected | info
    words: str  # what Meta says happened


EVENTS: dict[str, EventKind] = {
    "ACCOUNT_RESTRICTION": EventKind("restriction", "Meta restricted the account, or changed or lifted its restrictions"),
    "DISABLED_UPDATE": EventKind("ban", "the account's ban state changed"),
    "ACCOUNT_VIOLATION": EventKind("violation", "the account violated Meta's policies or terms"),
    "ACCOUNT_DELETED": EventKind("deleted", "Meta deleted the account"),
    "ACCOUNT_OFFBOARDED": EventKind("offboarded", "the account was offboarded after a device change or number re-registration"),
    "ACCOUNT_RECONNECTED": EventKind("reconnected", "the account was reconnected after a device change or number re-registration"),
    "PARTNER_ADDED": EventKind("info", "the account was shared with a Solution Partner"),
    "PARTNER_REMOVED": EventKind("info", "the account was unshared from a Solution Partner (if wacast's access token came "
                                         "through that partner, Meta now refuses it and the sender halts)"),
    "PARTNER_APP_INSTALLED": EventKind("info", "the business granted an app permissions on the account"),
    "PARTNER_APP_UNINSTALLED": EventKind("info", "the business removed an app's permissions (if it is wacast's app, Meta now "
                                                 "refuses its token and the sender halts)"),
    "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE": EventKind("info", "a partner-led business verification was decided"),
    "AD_ACCOUNT_LINKED": EventKind("info", "the account was onboarded onto the Marketing Messages API and linked an ad account"),
    "MM_LITE_TERMS_SIGNED": EventKind("info", "the account accepted the Marketing Messages API terms"),
    "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE": EventKind("info", "the account became eligible for authentication-international rates"),
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE": EventKind("info", "the business's primary location was set"),
    "VOLUME_BASED_PRICING_TIER_UPDATE": EventKind("info", "the account's volume-based pricing tier changed"),
    "VERIFIED_ACCOUNT": EventKind("info", "the business was verified"),  # Meta's older docs
}

BAN_STATES = ("DISABLE", "SCHEDULE_FOR_DISABLE", "REINSTATE")
LIFECYCLE_WORDS = {"ACCOUNT_DELETED": "Meta deleted this WhatsApp Business Account",
                   "ACCOUNT_OFFBOARDED": "this WhatsApp Business Account was offboarded (device change or number re-registration)"}


# --- reading Meta's values ------------------------------------------------------------------


def meta_text(value: Any, max_len: int = TEXT_MAX, *, keep_newlines: bool = False) -> str | None:
    """A text of Meta's as kept: control characters, NUL and lone surrogates turned to spaces
    (newlines too unless `keep_newlines`, for a text shown as paragraphs), trimmed, at most
    `max_len` characters; None if not a non-empty string."""
    if not isinstance(value, str):
        return None
    cleaned = (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(" ", value).strip()
    if not cleaned:
        return None
    return cleaned if len(cleaned) <= max_len else cleaned[: max_len - 1] + "…"


def meta_word(value: Any) -> str | None:
    """An enum value of Meta's (ACCOUNT_RESTRICTION, DISABLE...), upper case; else None."""
    if not isinstance(value, str) or len(value) > 100:
        return None
    word = value.strip().upper()
    return word if _WORD.fullmatch(word) else None


def meta_time(value: Any) -> datetime | None:
    """A moment of Meta's: a Unix timestamp (number or digits) or an ISO 8601 text
    (2026-04-19T13:59:20+0000, ...Z); None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) <= 12:
            value = int(text)
        elif 10 <= len(text) <= 40:
            text = text[:-1] + "+00:00" if text.endswith("Z") else text
            text = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text)
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        else:
            return None
    if not isinstance(value, int | float) or not (0 < value < 10**11):
        return None
    return datetime.fromtimestamp(value, UTC)


def waba_id(value: Any) -> str | None:
    """The WABA id of an entry (Meta's digits), or None."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if _WABA.fullmatch(text) else None


def phone_number(value: Any) -> str | None:
    """The `phone_number` some events carry (digits, maybe with +), or None."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    digits = text[1:] if text.startswith("+") else text
    return text if digits.isdigit() and 5 <= len(digits) <= 20 else None


def clean_detail(value: Any, depth: int = 0) -> Any:
    """What an event carries, kept as data for its record: objects (keys in snake case) and
    lists up to 20 items, three levels deep, numbers, booleans and texts (capped)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value if abs(value) < 10**15 else None
    if isinstance(value, str):
        return meta_text(value, 200)
    if depth >= 3:
        return None
    if isinstance(value, dict):
        kept = {}
        for key, item in list(value.items())[:30]:
            if isinstance(key, str) and _KEY.fullmatch(key) and key != "event":
                kept[key] = clean_detail(item, depth + 1)
        return kept
    if isinstance(value, list):
        return [clean_detail(item, depth + 1) for item in value[:20]]
    return None


# --- the state of an account ----------------------------------------------------------------


@dataclass(frozen=True)
class Restriction:
    type: str
    since: datetime
    expires_at: datetime | None  # None: until Meta lifts it
    remediation: str | None = None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    @property
    def kind(self) -> RestrictionKind:
        return restriction_kind(self.type)


@dataclass(frozen=True)
class AccountState:
    """What wacast knows of one WABA (stored in account_statuses)."""

    restrictions: tuple[Restriction, ...] = ()
    ban_state: str | None = None  # DISABLE | SCHEDULE_FOR_DISABLE (REINSTATE clears it)
    ban_date: str | None = None  # Meta's words ("April 17, 2025")
    ban_since: datetime | None = None
    lifecycle: str | None = None  # ACCOUNT_DELETED | ACCOUNT_OFFBOARDED
    lifecycle_since: datetime | None = None
    violation_type: str | None = None
    violation_at: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def restrictions_json(restrictions: tuple[Restriction, ...]) -> list[dict[str, Any]]:
    return [{"type": r.type, "since": _iso(r.since), "expires_at": _iso(r.expires_at), "remediation": r.remediation}
            for r in restrictions]


def restrictions_from_json(value: Any) -> tuple[Restriction, ...]:
    """The stored list back (anything malformed in it is dropped)."""
    kept = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        kind, since = meta_word(item.get("type")), meta_time(item.get("since"))
        if kind and since:
            kept.append(Restriction(kind, since, meta_time(item.get("expires_at")), meta_text(item.get("remediation"))))
    return tuple(kept)


def state_of(row: Any) -> AccountState:
    """The state of a stored row (models/accounts.AccountStatus), or the empty state for None."""
    if row is None:
        return AccountState()
    return AccountState(
        restrictions=restrictions_from_json(row.restrictions), ban_state=row.ban_state, ban_date=row.ban_date,
        ban_since=row.ban_since, lifecycle=row.lifecycle, lifecycle_since=row.lifecycle_since,
        violation_type=row.violation_type, violation_at=row.violation_at,
    )


# --- applying an event ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    event: str  # Meta's event name ("" when missing)
    known: bool  # in EVENTS
    effect: str  # restricted | lifted | disabled | scheduled_for_disable | reinstated | violation | deleted | offboarded | reconnected | recorded
    summary: str  # in words, for the event's record and the customer webhook
    state: AccountState
    detail: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "until Meta lifts it"


def read_restrictions(value: dict, now: datetime, notes: list[str]) -> list[tuple[str, datetime | None, str | None]] | None:
    """restriction_info as (type, expiration, remediation), the latest expiration per type;
    None when the event carries no readable list (then nothing changes)."""
    info = value.get("restriction_info")
    if isinstance(info, dict):  # one restriction not wrapped in a list
        info = [info]
    if not isinstance(info, list):
        notes.append("ACCOUNT_RESTRICTION without a restriction_info list: restrictions unchanged")
        return None
    found: dict[str, tuple[datetime | None, str | None]] = {}
    for item in info[:MAX_RESTRICTIONS]:
        kind = meta_word(item.get("restriction_type")) if isinstance(item, dict) else None
        if kind is None:
            notes.append("a restriction without a readable restriction_type was skipped")
            continue
        raw = item.get("expiration")
        expires = meta_time(raw)
        if raw is not None and expires is None:
            notes.append(f"{kind}: expiration {str(raw)[:40]!r} unreadable, kept until Meta lifts it")
        if kind in found and (found[kind][0] is None or (expires is not None and expires <= found[kind][0])):
            continue
        found[kind] = (expires, meta_text(item.get("remediation")))
    if len(info) > MAX_RESTRICTIONS:
        notes.append(f"restriction_info has {len(info)} items: the first {MAX_RESTRICTIONS} were read")
    if info and not found:
        notes.append("no readable restriction in restriction_info: restrictions unchanged")
        return None
    return [(kind, expires, remediation) for kind, (expires, remediation) in found.items()]


def apply_event(state: AccountState, value: dict, now: datetime) -> Outcome:
    """What one account_update `value` makes of the account's state (and how to say it)."""
    notes: list[str] = []
    event = meta_word(value.get("event")) or ""
    kind = EVENTS.get(event)
    detail = clean_detail(value) if isinstance(value, dict) else {}

    def outcome(effect: str, summary: str, new: AccountState = state) -> Outcome:
        return Outcome(event, kind is not None, effect, summary[:SUMMARY_MAX], new, detail, notes)

    if kind is None:
        notes.append(f"account_update event {event or '(none)'} is not one wacast knows: recorded")
        return outcome("recorded", f"Meta sent account event {event or '(none)'}, which wacast does not know; recorded")
    if kind.applies == "restriction":
        found = read_restrictions(value, now, notes)
        if found is None:
            return outcome("recorded", "Meta sent a restriction event wacast could not read; restrictions unchanged")
        before = {r.type: r for r in state.restrictions if r.active(now)}
        kept = tuple(Restriction(t, before[t].since if t in before else now, expires, remediation)
                     for t, expires, remediation in found)
        active = [r for r in kept if r.active(now)]
        new = replace(state, restrictions=tuple(active))
        if not active:
            words = "Meta lifted the account's restrictions" if not found else "Meta's restrictions have already expired"
            return outcome("lifted", words, new)
        listed = "; ".join(f"{r.kind.words} until {_when(r.expires_at)}" if r.expires_at else f"{r.kind.words} {_when(None)}"
                           for r in active)
        return outcome("restricted", f"Meta restricted {listed}", new)
    if kind.applies == "ban":
        info = value.get("ban_info") if isinstance(value.get("ban_info"), dict) else {}
        ban = meta_word(info.get("waba_ban_state"))
        date = meta_text(info.get("waba_ban_date"), 100)
        if ban not in BAN_STATES:
            notes.append(f"DISABLED_UPDATE with ban state {ban or '(none)'}: ban state unchanged")
            return outcome("recorded", f"Meta sent a ban state wacast does not know ({ban or 'none'}); unchanged")
        if ban == "REINSTATE":
            lifecycle = None if state.lifecycle == "ACCOUNT_DELETED" else state.lifecycle
            new = replace(state, ban_state=None, ban_date=date, ban_since=None, lifecycle=lifecycle,
                          lifecycle_since=state.lifecycle_since if lifecycle else None)
            return outcome("reinstated", "Meta reinstated the account", new)
        since = state.ban_since if state.ban_state == ban and state.ban_since else now
        new = replace(state, ban_state=ban, ban_date=date, ban_since=since)
        if ban == "DISABLE":
            return outcome("disabled", f"Meta disabled the account{f' ({date})' if date else ''}: every sender on it is halted", new)
        return outcome("scheduled_for_disable",
                       f"Meta scheduled the account to be disabled{f' ({date})' if date else ''}: sending goes on for now", new)
    if kind.applies == "violation":
        info = value.get("violation_info") if isinstance(value.get("violation_info"), dict) else {}
        violation = meta_word(info.get("violation_type")) or "UNSPECIFIED"
        new = replace(state, violation_type=violation, violation_at=now)
        return outcome("violation", f"Meta reports a policy violation ({violation}); sending goes on", new)
    if kind.applies in ("deleted", "offboarded"):
        since = state.lifecycle_since if state.lifecycle == event and state.lifecycle_since else now
        new = replace(state, lifecycle=event, lifecycle_since=since)
        return outcome(kind.applies, f"{LIFECYCLE_WORDS[event]}: every sender on it is halted", new)
    if kind.applies == "reconnected":
        if state.lifecycle == "ACCOUNT_OFFBOARDED":
            return outcome("reconnected", "The account was reconnected: sending resumes",
                           replace(state, lifecycle=None, lifecycle_since=None))
        return outcome("reconnected", "The account was reconnected")
    return outcome("recorded", kind.words[:1].upper() + kind.words[1:])


# --- what it means now ----------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One thing to show about the account (the banner, /readyz, doctor, the gauge)."""

    kind: str  # a restriction type, DISABLE, SCHEDULE_FOR_DISABLE, ACCOUNT_DELETED, ACCOUNT_OFFBOARDED, ACCOUNT_VIOLATION
    severity: str  # blocks | warns | shown
    words: str  # what Meta did, in words
    effect: str  # what wacast does about it
    since: datetime | None
    until: datetime | None  # None: until Meta lifts it (blocks), or open-ended

    @property
    def restriction(self) -> bool:
        """Counted by the wacast_account_restricted gauge (a violation is a record, not a restriction)."""
        return self.kind != "ACCOUNT_VIOLATION"


def notices(state: AccountState, now: datetime) -> list[Notice]:
    """What is in force now, strongest first: expired restrictions are gone."""
    found = []
    if state.ban_state == "DISABLE":
        found.append(Notice("DISABLE", BLOCKS, f"Meta disabled this WhatsApp Business Account{f' ({state.ban_date})' if state.ban_date else ''}",
                            "wacast holds every send until Meta reinstates it", state.ban_since, None))
    elif state.ban_state == "SCHEDULE_FOR_DISABLE":
        found.append(Notice("SCHEDULE_FOR_DISABLE", WARNS,
                            f"Meta scheduled this WhatsApp Business Account to be disabled{f' ({state.ban_date})' if state.ban_date else ''}",
                            "sending goes on; appeal in Meta Business Support Home", state.ban_since, None))
    if state.lifecycle in LIFECYCLE_WORDS:
        lifted_by = "Meta reinstates it" if state.lifecycle == "ACCOUNT_DELETED" else "it is reconnected"
        found.append(Notice(state.lifecycle, BLOCKS, LIFECYCLE_WORDS[state.lifecycle], f"wacast holds every send until {lifted_by}",
                            state.lifecycle_since, None))
    for r in state.restrictions:
        if r.active(now):
            kind = r.kind
            found.append(Notice(r.type, BLOCKS if kind.blocks_sending else SHOWN, f"Meta restricted {kind.words}",
                                kind.effect + (f"; Meta: {r.remediation}" if r.remediation else ""), r.since, r.expires_at))
    if state.violation_type and state.violation_at and now - state.violation_at < VIOLATION_SHOWN_FOR:
        found.append(Notice("ACCOUNT_VIOLATION", WARNS, f"Meta reports a policy violation ({state.violation_type})",
                            "sending goes on; repeated violations lead to restrictions", state.violation_at, None))
    return sorted(found, key=lambda n: _ORDER[n.severity])


@dataclass(frozen=True)
class Hold:
    """Sending is held for every project on the account: why, since when, until when (None:
    until Meta lifts it)."""

    reason: str
    since: datetime | None
    until: datetime | None


def hold(state: AccountState, now: datetime) -> Hold | None:
    """Whether the account's state holds sending now."""
    blocking = [n for n in notices(state, now) if n.severity == BLOCKS]
    if not blocking:
        return None
    until = None if any(n.until is None for n in blocking) else max(n.until for n in blocking if n.until)
    since = min((n.since for n in blocking if n.since), default=None)
    reason = "; ".join(n.words for n in blocking) + (f" (until {_when(until)})" if until else " (until Meta lifts it)")
    return Hold(reason[:SUMMARY_MAX], since, until)


def status_data(waba: str, state: AccountState, outcome: Outcome | None, now: datetime) -> dict[str, Any]:
    """The account's status as the customer webhook `account.status.updated` carries it."""
    held = hold(state, now)
    data: dict[str, Any] = {
        "waba_id": waba,
        "sending": {"held": held is not None, "reason": held.reason if held else None,
                    "since": _iso(held.since) if held else None, "until": _iso(held.until) if held else None},
        "restrictions": [{"type": r.type, "what": r.kind.words, "blocks_sending": r.kind.blocks_sending,
                          "since": _iso(r.since), "expires_at": _iso(r.expires_at), "remediation": r.remediation}
                         for r in state.restrictions if r.active(now)],
        "ban": {"state": state.ban_state, "date": state.ban_date, "since": _iso(state.ban_since)} if state.ban_state else None,
        "account": state.lifecycle,
        "violation": {"type": state.violation_type, "at": _iso(state.violation_at)} if state.violation_type else None,
        "at": _iso(now),
    }
    if outcome is not None:
        data = {"event": outcome.event or None, "effect": outcome.effect, "summary": outcome.summary} | data
    return data
