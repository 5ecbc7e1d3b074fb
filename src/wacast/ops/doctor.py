"""`wacast doctor --project NAME`: what stands between this project and messages arriving,
each with what to do about it.

Checks, in order: configuration, database and schema, the project (and that its access token
decrypts), a live dispatcher, the sender's halt flag, Meta's account state for its WABA
(account_update: restrictions, bans; docs/account-status.md), Meta's access token (a Graph call), the
phone number's registration, status, quality, throughput and messaging tier, the WABA's webhook
subscription, template sync freshness, and that the public webhook URL answers Meta's
verification handshake from the outside.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.db.migrate import current_revision
from wacast.kit.clock import utcnow
from wacast.kit.crypto import SecretKeyError
from wacast.kit.net import is_public
from wacast.ops import config_check, repository
from wacast.messages.senders import account_hold
from wacast.ops.snapshot import head
from wacast.whatsapp import account_policy
from wacast.whatsapp import repository_accounts as accounts_repo

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
PHONE_FIELDS = "id,display_phone_number,verified_name,status,quality_rating,platform_type,throughput,messaging_limit_tier,code_verification_status,name_status"
PHONE_FIELDS_MINIMAL = "id,display_phone_number,verified_name,status,quality_rating"
THROUGHPUT_CAP = {"STANDARD": 80, "HIGH": 1000, "NOT_APPLICABLE": 80}
TEMPLATES_STALE_AFTER = timedelta(hours=24)


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None


async def run(settings: Settings, project_name: str, *, environ: dict[str, str] | None = None) -> list[Check]:
    checks: list[Check] = []
    problems = config_check.check(settings) + (config_check.unknown_variables(environ) if environ is not None else [])
    checks.append(Check("configuration", FAIL if problems else OK, "; ".join(problems) if problems else "settings are valid",
                        "fix the settings named above" if problems else None))
    db = Database(settings.database_url)
    try:
        await _database(db, checks)
        if checks[-1].status == FAIL:
            return checks
        project = await _project(db, project_name, checks)
        if project is None:
            return checks
        await _dispatcher(db, settings, checks)
        if project.halted_reason:
            checks.append(Check("sending", FAIL, f"halted: {project.halted_reason}",
                                f"fix the cause, then `wacast projects update {project.name} --clear-halt`"))
        else:
            checks.append(Check("sending", OK, "not halted"))
        await _account(db, project, checks)
        if project.provider != "cloud":
            checks.append(Check("meta", SKIP, "sandbox project (no phone number id or access token): Meta is not called",
                                f"to send for real: `wacast projects update {project.name} --waba-id ... --phone-number-id ... --access-token ...`"))
        else:
            async with httpx.AsyncClient(base_url=f"{settings.graph_api_url.rstrip('/')}/{settings.graph_api_version.strip('/')}/",
                                         timeout=10, headers={"Authorization": f"Bearer {project.access_token}"}) as graph:
                if await _phone_number(graph, project, checks):
                    await _subscription(graph, project, checks)
            await _templates(db, project, checks)
        await _webhook_url(settings, checks, needed=project.provider == "cloud")
    finally:
        await db.dispose()
    return checks


async def _database(db: Database, checks: list[Check]) -> None:
    try:
        current = await asyncio.wait_for(current_revision(db.engine), 10)
    except Exception as error:  # noqa: BLE001
        checks.append(Check("database", FAIL, f"cannot connect ({type(error).__name__}: {str(error)[:200]})",
                            "check WACAST_DATABASE_URL and that the database server is up"))
        return
    if current != head():
        checks.append(Check("database", FAIL, f"connected; schema at {current}, this wacast needs {head()}", "run `wacast migrate`"))
    else:
        checks.append(Check("database", OK, f"connected ({db.engine.dialect.name}), schema current ({current})"))


async def _project(db: Database, name: str, checks: list[Check]) -> Any:
    try:
        async with db.read() as session:
            project = await repository.project_by_name(session, name)
    except SecretKeyError as error:
        checks.append(Check("project", FAIL, str(error), "set WACAST_SECRET_KEY to include the key the token was encrypted with"))
        return None
    if project is None:
        checks.append(Check("project", FAIL, f"project {name!r} does not exist", f"`wacast projects create {name}` (see `wacast projects list`)"))
        return None
    checks.append(Check("project", OK, f"{project.name}: provider {project.provider}, {project.messages_per_second} msg/s"))
    return project


async def _dispatcher(db: Database, settings: Settings, checks: list[Check]) -> None:
    fresh = utcnow() - timedelta(seconds=2 * settings.sender_lease_seconds)
    async with db.read() as session:
        alive = await repository.live_workers(session, fresh)
    if alive:
        checks.append(Check("dispatcher", OK, f"{alive} live dispatcher(s)"))
    else:
        checks.append(Check("dispatcher", FAIL, "no live dispatcher: queued messages are not being sent",
                            "start `wacast worker` (or `wacast serve` with WACAST_RUN_DISPATCHER=1)"))


async def _account(db: Database, project: Any, checks: list[Check]) -> None:
    """What Meta's account_update events said of the project's WABA, and what of it holds sends."""
    now = utcnow()
    async with db.read() as session:
        stored = (await accounts_repo.statuses(session, [project.waba_id])).get(project.waba_id or "")
    notices = account_policy.notices(account_policy.state_of(stored), now)
    held = account_hold(project, now)
    others = "; ".join(f"{n.words} ({n.effect}{f', until {n.until:%Y-%m-%d %H:%M} UTC' if n.until else ''})"
                       for n in notices if n.severity != account_policy.BLOCKS)
    if held:
        checks.append(Check("account", FAIL, f"sends held: {held}" + (f"; also {others}" if others else ""),
                            "nothing to clear in wacast: the hold lifts by itself at its expiration or when Meta lifts it "
                            "(see Business Support Home in Meta Business Suite to appeal)"))
    elif any(n.severity == account_policy.WARNS for n in notices):
        checks.append(Check("account", WARN, others, "see Business Support Home in Meta Business Suite"))
    elif notices:
        checks.append(Check("account", OK, f"sending not affected: {others}"))
    elif project.waba_id:
        checks.append(Check("account", OK, "Meta reported no restriction on the WhatsApp Business Account"))
    else:
        checks.append(Check("account", SKIP, "no WABA id: Meta's account events cannot be matched to this project"))


def _graph_error(response: httpx.Response) -> tuple[int | None, str]:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    return error.get("code"), str(error.get("message") or f"HTTP {response.status_code}")


async def _phone_number(graph: httpx.AsyncClient, project: Any, checks: list[Check]) -> bool:
    try:
        response = await graph.get(project.phone_number_id, params={"fields": PHONE_FIELDS})
        if response.status_code == 400 and _graph_error(response)[0] == 100:
            response = await graph.get(project.phone_number_id, params={"fields": PHONE_FIELDS_MINIMAL})
    except httpx.HTTPError as error:
        checks.append(Check("access token", FAIL, f"Meta's Graph API is unreachable ({type(error).__name__})",
                            "check outbound HTTPS to graph.facebook.com (firewall, proxy, DNS)"))
        return False
    if response.status_code != 200:
        code, message = _graph_error(response)
        if code == 190 or response.status_code == 401:
            checks.append(Check("access token", FAIL, f"Meta refused the token ({code}): {message}",
                                f"generate a new system-user token with whatsapp_business_messaging and whatsapp_business_management, then "
                                f"`wacast projects update {project.name} --access-token NEW_TOKEN`"))
        elif code in (100, 803) or response.status_code == 404:
            checks.append(Check("access token", OK, "Meta accepted the token"))
            checks.append(Check("phone number", FAIL, f"Meta does not know phone number id {project.phone_number_id} ({code}): {message}",
                                f"copy the phone number id from WhatsApp Manager and `wacast projects update {project.name} --phone-number-id ID`"))
        else:
            checks.append(Check("access token", FAIL, f"Meta answered {response.status_code} ({code}): {message}",
                                "check that the token has access to this phone number"))
        return False
    checks.append(Check("access token", OK, "Meta accepted the token"))
    phone = response.json()
    name = f"{phone.get('display_phone_number', project.phone_number_id)} ({phone.get('verified_name', '?')})"
    status = str(phone.get("status") or "UNKNOWN").upper()
    platform = str(phone.get("platform_type") or phone.get("host_platform") or "").upper()
    if platform and platform != "CLOUD_API":
        checks.append(Check("registration", FAIL, f"{name} is not registered with the Cloud API (platform {platform})",
                            f"register it: POST /{project.phone_number_id}/register with a 6-digit PIN (see docs/deployment.md)"))
    elif status in ("CONNECTED", "LINKED"):
        checks.append(Check("registration", OK, f"{name}: {status}, Cloud API"))
    elif status in ("BANNED", "RESTRICTED", "FLAGGED", "DISCONNECTED", "DELETED", "MIGRATED"):
        checks.append(Check("registration", FAIL, f"{name}: status {status}", "resolve it in WhatsApp Manager (Meta Business Suite)"))
    else:
        checks.append(Check("registration", WARN, f"{name}: status {status}", "finish registration and verification in WhatsApp Manager"))
    quality = str(phone.get("quality_rating") or "UNKNOWN").upper()
    if quality == "RED":
        checks.append(Check("quality", WARN, "quality rating RED: Meta may lower the messaging tier or restrict the number",
                            "send fewer marketing messages and only to people who opted in"))
    else:
        checks.append(Check("quality", OK, f"quality rating {quality}"))
    level = str((phone.get("throughput") or {}).get("level") or "") if isinstance(phone.get("throughput"), dict) else ""
    tier = phone.get("whatsapp_business_manager_messaging_limit") or phone.get("messaging_limit_tier") or "unknown"
    cap = THROUGHPUT_CAP.get(level.upper()) if level else None
    if cap is not None and project.messages_per_second > cap:
        checks.append(Check("throughput", WARN, f"throughput {level} ({cap} msg/s) but the project sends at {project.messages_per_second} msg/s; "
                            f"messaging tier {tier}", f"`wacast projects update {project.name} --messages-per-second {cap}`"))
    else:
        shown = f"{level} ({cap} msg/s)" if cap else (level or "not reported")
        checks.append(Check("throughput", OK, f"throughput {shown}, project sends at {project.messages_per_second} msg/s; messaging tier {tier}"))
    return True


async def _subscription(graph: httpx.AsyncClient, project: Any, checks: list[Check]) -> None:
    if not project.waba_id:
        checks.append(Check("webhook subscription", WARN, "no WABA id: the subscription and templates cannot be checked",
                            f"`wacast projects update {project.name} --waba-id ID`"))
        return
    try:
        response = await graph.get(f"{project.waba_id}/subscribed_apps")
    except httpx.HTTPError as error:
        checks.append(Check("webhook subscription", FAIL, f"Graph API unreachable ({type(error).__name__})"))
        return
    if response.status_code != 200:
        code, message = _graph_error(response)
        checks.append(Check("webhook subscription", FAIL, f"cannot read the WABA's subscribed apps ({code}): {message}",
                            "check the WABA id and the token's whatsapp_business_management permission"))
        return
    apps = response.json().get("data") or []
    if not apps:
        checks.append(Check("webhook subscription", FAIL, "no app is subscribed to this WABA's webhooks: status updates will never arrive",
                            f"subscribe your app: POST /{project.waba_id}/subscribed_apps with the system-user token"))
        return
    overrides = [a.get("override_callback_uri") for a in apps if isinstance(a, dict) and a.get("override_callback_uri")]
    names = ", ".join(str((a.get("whatsapp_business_api_data") or {}).get("name", "?")) for a in apps if isinstance(a, dict))
    detail = f"subscribed: {names}" + (f"; override callback {overrides[0]}" if overrides else "")
    checks.append(Check("webhook subscription", OK, detail))


async def _templates(db: Database, project: Any, checks: list[Check]) -> None:
    async with db.read() as session:
        counts = await repository.template_counts(session, project.id)
    approved = counts.get("APPROVED", 0)
    synced = project.templates_synced_at
    summary = f"{approved} approved of {sum(counts.values())}"
    if synced is None:
        checks.append(Check("templates", WARN, f"never synced from Meta ({summary})", f"`wacast templates sync --project {project.name}`"))
    elif utcnow() - synced > TEMPLATES_STALE_AFTER:
        hours = int((utcnow() - synced).total_seconds() // 3600)
        checks.append(Check("templates", WARN, f"last synced {hours} h ago ({summary}); Meta's template webhooks keep statuses current only "
                            "if the subscription works", f"`wacast templates sync --project {project.name}`"))
    else:
        checks.append(Check("templates", OK, f"synced {int((utcnow() - synced).total_seconds() // 60)} min ago ({summary})"))


async def _webhook_url(settings: Settings, checks: list[Check], needed: bool = True) -> None:
    if not settings.meta_app_secret or not settings.meta_verify_token:
        missing = [n for n, v in (("WACAST_META_APP_SECRET", settings.meta_app_secret), ("WACAST_META_VERIFY_TOKEN", settings.meta_verify_token)) if not v]
        checks.append(Check("webhook secrets", FAIL if needed else WARN, f"{' and '.join(missing)} not set: Meta's webhooks are refused",
                            "copy the app secret from the Meta app dashboard and choose a verify token"))
    if not settings.public_url:
        checks.append(Check("webhook URL", WARN, "WACAST_PUBLIC_URL is not set, so the webhook URL cannot be checked",
                            "set WACAST_PUBLIC_URL to the https address Meta calls (e.g. https://wa.example.com)"))
        return
    url = settings.public_url.rstrip("/") + "/webhooks/whatsapp"
    parts = urlsplit(url)
    challenge = secrets.token_hex(8)
    try:
        async with httpx.AsyncClient(timeout=10, verify=True) as client:
            response = await client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": settings.meta_verify_token, "hub.challenge": challenge})
    except httpx.HTTPError as error:
        checks.append(Check("webhook URL", FAIL, f"{url} is unreachable ({type(error).__name__}: {str(error)[:150]})",
                            "check DNS, the TLS certificate (Meta needs a valid one) and that nginx forwards /webhooks/ to wacast"))
        return
    if response.status_code != 200 or response.text != challenge:
        checks.append(Check("webhook URL", FAIL, f"{url} answered {response.status_code} to Meta's verification handshake",
                            "the verify token set in the Meta app must equal WACAST_META_VERIFY_TOKEN, and the URL must reach wacast"))
        return
    if parts.scheme != "https":
        checks.append(Check("webhook URL", WARN, f"{url} answers the handshake but over http: Meta only calls https URLs", "serve it over TLS (nginx)"))
        return
    private = await _private_host(parts.hostname or "")
    if private:
        checks.append(Check("webhook URL", WARN, f"{url} answers the handshake but {parts.hostname} resolves to a private address ({private}): Meta cannot reach it",
                            "publish it on a public address"))
        return
    checks.append(Check("webhook URL", OK, f"{url} answers Meta's verification handshake"))


async def _private_host(host: str) -> str | None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        return None
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):  # the rule of wacast's own outbound requests (kit/net)
            return address
    return None


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"ok": not any(c.status == FAIL for c in checks), "checks": [asdict(c) for c in checks]}
