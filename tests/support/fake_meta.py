"""A fake Meta: a real Graph API server on 127.0.0.1 (Starlette under uvicorn, in a thread).

What it does, like Meta's Cloud API (reference/whatsapp-cloud-api.md):
- GET  /{version}/{waba_id}/message_templates: cursor paging (`paging.cursors.after` and
  `next`, no `next` on the last page);
- POST /{version}/{waba_id}/message_templates: stores the template as PENDING, answers its id;
- POST /{version}/{template_id}: edits a template (components, category, time-to-live) as Meta
  does: only APPROVED, REJECTED or PAUSED ones, never an approved one's category; the template
  goes back to PENDING (`edits` logs each edit);
- DELETE /{version}/{waba_id}/message_templates?name=...[&hsm_id=...]: deletes every language
  of the name, or the one template with that id (`deleted` logs each; 404 when none matched);
- POST /{version}/{phone_number_id}/messages: checks the Bearer token (190, HTTP 401), checks the
  template exists and is approved (132001, 132015 PAUSED, 132016 DISABLED), counts parameters
  the way Meta does (132000 with Meta's details text, 132012 on a carousel card count) and
  answers a wamid;
- deterministic error injection (`inject`): a Meta error code (or a bare HTTP status) for the
  next N sends or always, optionally only for one number or recipient, with Retry-After, and
  slow answers (`delay`) to provoke client timeouts;
- an optional per-number throughput cap (`caps`): a send that would make more than `cap`
  sends arrive within one second is refused with 130429, as Meta does;
- a log of every send with its arrival time (`sends`, `attempts`) and `max_in_window` to check
  a cap was held;
- media of received messages (`add_media`): GET /{version}/{media_id}[?phone_number_id=]
  answers Meta's JSON (url, mime_type, sha256 in hex, file_size as a string, id), 400 code 100
  for an unknown id or another number's; the URL (/whatsapp_business/attachments/?mid=...,
  like lookaside.fbsbx.com's) gives the bytes only with the Bearer token (401 otherwise); a
  media can lie about its sha256, answer a download URL elsewhere, redirect, or stream without
  a Content-Length; `media_info_requests` and `media_downloads` count what was asked;
- signed webhooks back to wacast (`post_webhook`, `status_body`, `inbound_body`,
  `template_status_body`), HMAC-SHA256 of the raw body with the app secret; and optionally
  automatic `sent`/`delivered` status webhooks after each accepted send (`webhook_url`).

It counts parameters with its own few lines of code (not wacast's), so a disagreement shows.
"""

from __future__ import annotations

import os

import asyncio
import base64
import collections
import hashlib
import hmac
import itertools
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

TITLES = {
    1: "An unknown error occurred",
    2: "Service temporarily unavailable",
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Access token has expired",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131031: "Account has been locked",
    131042: "Business eligibility payment issue",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "User has stopped marketing messages",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132005: "Translated text too long",
    132007: "Template format character policy violated",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is Paused",
    132016: "Template is Disabled",
    133004: "Server temporarily unavailable",
    133010: "Phone number not registered",
}


@dataclass
class Rule:
    """An injected answer: Meta error `code` (or None for a bare `http_status`)."""

    code: int | None
    times: int | None = 1  # None: always
    http_status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0  # seconds before answering (slow answers, timeouts)
    phone_number_id: str | None = None
    to: str | None = None
    details: str | None = None
    succeed_after_delay: bool = False  # a slow answer that still succeeds
    hits: int = 0

    def matches(self, number: str, to: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.phone_number_id and self.phone_number_id != number:
            return False
        return not (self.to and self.to.lstrip("+") != to.lstrip("+"))


@dataclass
class Send:
    phone_number_id: str
    body: dict[str, Any]
    arrived: float  # time.monotonic() on arrival
    wamid: str | None = None  # None when refused
    error_code: int | None = None
    http_status: int = 200

    @property
    def message_id(self) -> str:
        return str(self.body.get("biz_opaque_callback_data", ""))

    @property
    def to(self) -> str:
        """The phone number sent to, or the BSUID of a send by `recipient` (a user without one)."""
        return str(self.body.get("to") or self.body.get("recipient") or "")


@dataclass
class FakeMeta:
    app_secret: str = "test-app-secret"
    token: str = "meta-test-token"
    waba_id: str = "102290129340398"
    page_size: int = 2  # small pages, so listing needs several
    latency: float = 0.0
    webhook_url: str | None = None  # set: post sent/delivered statuses after each accepted send
    display_phone_number: str = "15550783881"
    templates: list[dict[str, Any]] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    caps: dict[str, int] = field(default_factory=dict)
    sends: list[Send] = field(default_factory=list)  # every send request, refused ones too
    created: list[dict[str, Any]] = field(default_factory=list)  # POSTed templates
    template_requests: list[dict[str, Any]] = field(default_factory=list)  # GET listings (query params)
    edits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (template id, POSTed body)
    deleted: list[dict[str, str]] = field(default_factory=list)  # DELETE query params that deleted something
    webhooks_posted: list[tuple[int, dict]] = field(default_factory=list)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)  # media id -> what add_media stored
    media_info_requests: list[str] = field(default_factory=list)  # media ids asked for with the right token
    media_downloads: list[str] = field(default_factory=list)  # media ids whose bytes were served
    media_download_attempts: list[tuple[str, bool]] = field(default_factory=list)  # (mid, with the right token)

    def __post_init__(self) -> None:
        self._wamids = itertools.count(1)
        self._template_ids = itertools.count(900_000_000_001)
        self._media_ids = itertools.count(1_003_383_421_387_256)
        self._windows: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/whatsapp_business/attachments/", self._media_download, methods=["GET"]),
            Route("/{version}/{node}/message_templates", self._templates, methods=["GET", "POST", "DELETE"]),
            Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
            Route("/_control/sends", self._control_sends, methods=["GET"]),
            Route("/{version}/{node}", self._edit_template, methods=["POST"]),
            Route("/{version}/{node}", self._media_info, methods=["GET"]),  # a media id (the POST above: a template)
        ])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    # --- running --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeMeta:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", backlog=4096,
                                timeout_keep_alive=30)
        self._server = uvicorn.Server(config)

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=run, daemon=True, name="fake-meta")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("fake Meta did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeMeta:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- set-up ---------------------------------------------------------------------------

    def add_template(self, name: str, components: list[dict], *, language: str = "en", category: str = "UTILITY",
                     status: str = "APPROVED", parameter_format: str | None = None, **extra: Any) -> dict[str, Any]:
        template = {"id": str(next(self._template_ids)), "name": name, "language": language, "category": category,
                    "status": status, "components": components, **extra}
        if parameter_format:
            template["parameter_format"] = parameter_format
        self.templates.append(template)
        return template

    def set_status(self, name: str, status: str, language: str = "en") -> dict[str, Any]:
        template = self._template(name, language)
        assert template is not None, name
        template["status"] = status
        return template

    def inject(self, code: int | None, *, times: int | None = 1, http_status: int | None = None, **options: Any) -> Rule:
        if http_status is None:
            http_status = 401 if code == 190 else 400
        rule = Rule(code, times, http_status, **options)
        self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        self.rules.clear()

    def add_media(self, content: bytes, mime_type: str, *, phone_number_id: str | None = None, sha256: str | None = None,
                  url: str | None = None, redirect_to: str | None = None, chunked: bool = False,
                  file_size: int | None = None) -> str:
        """A media file a person sent; returns its media id. `phone_number_id`: the number it
        came to (GET with another number's id is refused); `sha256`: claim this hex digest
        instead of the true one; `url`: answer this download URL instead of the fake's own;
        `redirect_to`: the download answers a 302 there; `chunked`: the bytes are streamed
        without a Content-Length; `file_size`: claim this size in the JSON."""
        media_id = str(next(self._media_ids))
        self.media[media_id] = {"content": content, "mime_type": mime_type, "phone_number_id": phone_number_id,
                                "sha256": sha256 or hashlib.sha256(content).hexdigest(), "url": url,
                                "redirect_to": redirect_to, "chunked": chunked, "file_size": file_size}
        return media_id

    def media_sha256_b64(self, media_id: str) -> str:
        """The sha256 of the media as Meta's webhooks write it (base64 of the digest)."""
        return base64.b64encode(hashlib.sha256(self.media[media_id]["content"]).digest()).decode()

    def expire_media(self, media_id: str) -> None:
        """Meta forgets the media (its ids last 30 days)."""
        self.media.pop(media_id, None)

    # --- reading the log ------------------------------------------------------------------

    def accepted(self, phone_number_id: str | None = None) -> list[Send]:
        return [s for s in list(self.sends) if s.wamid and (phone_number_id is None or s.phone_number_id == phone_number_id)]

    def accepted_by_message(self) -> dict[str, list[Send]]:
        out: dict[str, list[Send]] = collections.defaultdict(list)
        for send in self.accepted():
            out[send.message_id].append(send)
        return out

    def max_in_window(self, phone_number_id: str, window: float = 1.0) -> int:
        """The most sends of one number that arrived (accepted or not) within any `window` seconds."""
        return max_in_window([s.arrived for s in list(self.sends) if s.phone_number_id == phone_number_id and s.error_code != 190], window)


    # --- handlers -------------------------------------------------------------------------

    async def _control_sends(self, request: Request) -> Response:
        """The send log, for a test driving a fake Meta that runs in its own process."""
        return JSONResponse([{"phone_number_id": s.phone_number_id, "message_id": s.message_id, "arrived": s.arrived,
                              "wamid": s.wamid, "error_code": s.error_code} for s in list(self.sends)])

    def _auth(self, request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {self.token}"

    @staticmethod
    def _error(code: int | None, http_status: int = 400, details: str | None = None, headers: dict | None = None) -> Response:
        if code is None:
            return PlainTextResponse("Service Unavailable", status_code=http_status, headers=headers)
        error: dict[str, Any] = {"message": f"(#{code}) {TITLES.get(code, 'Error')}", "type": "OAuthException", "code": code,
                                 "fbtrace_id": "AfakeTrace" + str(code)}
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return JSONResponse({"error": error}, status_code=http_status, headers=headers)

    def _template(self, name: str, language: str) -> dict[str, Any] | None:
        for template in self.templates:
            if template["name"] == name and template["language"] == language:
                return template
        return None

    async def _media_info(self, request: Request) -> Response:
        if not self._auth(request):
            return self._error(190, 401, "Invalid OAuth access token.")
        media_id = request.path_params["node"]
        media = self.media.get(media_id)
        number = request.query_params.get("phone_number_id")
        if media is None or (number and media["phone_number_id"] and number != media["phone_number_id"]):
            return self._error(100, 400, f"Unsupported get request. Object with ID '{media_id}' does not exist, cannot be "
                                         "loaded due to missing permissions, or does not support this operation.")
        self.media_info_requests.append(media_id)
        url = media["url"] or (f"{self.base_url}/whatsapp_business/attachments/?mid={media_id}"
                               f"&ext={int(time.time()) + 300}&hash=ATfake{media_id[-6:]}")
        size = media["file_size"] if media["file_size"] is not None else len(media["content"])
        return JSONResponse({"messaging_product": "whatsapp", "url": url, "mime_type": media["mime_type"],
                             "sha256": media["sha256"], "file_size": str(size), "id": media_id})

    async def _media_download(self, request: Request) -> Response:
        media_id = request.query_params.get("mid", "")
        authorized = self._auth(request)
        self.media_download_attempts.append((media_id, authorized))
        if not authorized:
            return self._error(190, 401, "Invalid OAuth access token.")
        media = self.media.get(media_id)
        if media is None:
            return PlainTextResponse("Not Found", status_code=404)
        if media["redirect_to"]:
            return Response(status_code=302, headers={"location": media["redirect_to"]})
        self.media_downloads.append(media_id)
        content = media["content"]
        if media["chunked"]:
            async def chunks():  # noqa: ANN202
                for start in range(0, len(content), 64 * 1024):
                    yield content[start:start + 64 * 1024]
            return StreamingResponse(chunks(), media_type=media["mime_type"])
        return Response(content, media_type=media["mime_type"])

    async def _templates(self, request: Request) -> Response:
        if not self._auth(request):
            return self._error(190, 401, "Invalid OAuth access token.")
        if request.path_params["node"] != self.waba_id:
            return self._error(100, 400, "Unsupported get request. Object does not exist.")
        if request.method == "DELETE":
            name, hsm_id = request.query_params.get("name"), request.query_params.get("hsm_id")
            if not name:
                return self._error(100, 400, "The parameter name is required")
            gone = [t for t in self.templates if t["name"] == name and (not hsm_id or t["id"] == hsm_id)]
            if not gone:
                return self._error(100, 404, f"Message template {name} not found")
            self.templates = [t for t in self.templates if t not in gone]
            self.deleted.append(dict(request.query_params))
            return JSONResponse({"success": True})
        if request.method == "POST":
            try:
                data = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return self._error(100, 400, "Invalid JSON")
            if not re.fullmatch(r"[a-z0-9_]{1,512}", str(data.get("name", ""))) or not data.get("language") or not data.get("components"):
                return self._error(100, 400, "Invalid parameter")
            if self._template(data["name"], data["language"]) is not None:
                return self._error(100, 400, "Content in this language already exists")
            self.created.append(data)
            template = self.add_template(data["name"], data["components"], language=data["language"],
                                         category=str(data.get("category", "UTILITY")).upper(), status="PENDING",
                                         parameter_format=str(data.get("parameter_format", "POSITIONAL")).upper())
            return JSONResponse({"id": template["id"], "status": "PENDING", "category": template["category"]})
        params = dict(request.query_params)
        self.template_requests.append(params)
        limit = min(int(params.get("limit", 25)), self.page_size)
        start = int(base64.b64decode(params["after"]).decode()) if params.get("after") else 0
        page = self.templates[start:start + limit]
        end = start + len(page)
        cursors = {"before": base64.b64encode(str(start).encode()).decode(), "after": base64.b64encode(str(end).encode()).decode()}
        paging: dict[str, Any] = {"cursors": cursors}
        if end < len(self.templates):
            paging["next"] = f"{self.base_url}{request.url.path}?limit={limit}&after={cursors['after']}"
        return JSONResponse({"data": page, "paging": paging})

    async def _edit_template(self, request: Request) -> Response:
        if not self._auth(request):
            return self._error(190, 401, "Invalid OAuth access token.")
        template = next((t for t in self.templates if t["id"] == request.path_params["node"]), None)
        if template is None:
            return self._error(100, 400, "Unsupported post request. Object does not exist.")
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return self._error(100, 400, "Invalid JSON")
        if template["status"] not in ("APPROVED", "REJECTED", "PAUSED"):
            return self._error(100, 400, f"A {template['status']} template cannot be edited")
        category = str(data.get("category", template["category"])).upper()
        if template["status"] == "APPROVED" and category != template["category"]:
            return self._error(100, 400, "The category of an approved template cannot be edited")
        if not isinstance(data.get("components", template["components"]), list):
            return self._error(100, 400, "Invalid parameter")
        self.edits.append((template["id"], data))
        template.update(components=data.get("components", template["components"]), category=category, status="PENDING")
        return JSONResponse({"success": True})

    def _admit(self, number: str, now: float) -> bool:
        cap = self.caps.get(number)
        if not cap:
            return True
        window = self._windows[number]
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= cap:
            return False
        window.append(now)
        return True

    async def _messages(self, request: Request) -> Response:
        arrived = time.monotonic()
        number = request.path_params["node"]
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = {}
        send = Send(number, body if isinstance(body, dict) else {}, arrived)
        self.sends.append(send)
        response = await self._answer(request, number, send)
        send.http_status = response.status_code
        if response.status_code != 200 and send.error_code is None:
            try:
                send.error_code = orjson.loads(response.body)["error"]["code"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                send.error_code = None
        return response

    async def _answer(self, request: Request, number: str, send: Send) -> Response:
        if not self._auth(request):
            send.error_code = 190
            return self._error(190, 401, "Error validating access token: Session has expired.")
        body = send.body
        if body.get("messaging_product") != "whatsapp" or not send.to or body.get("type") != "template":
            return self._error(100, 400, "Invalid parameter")
        with self._lock:
            rule = next((r for r in self.rules if r.matches(number, send.to)), None)
            if rule is not None:
                rule.hits += 1
        if rule is not None and not rule.succeed_after_delay:
            if rule.delay:
                await asyncio.sleep(rule.delay)
            headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else None
            details = rule.details or (f"injected {rule.code}" if rule.code else None)
            return self._error(rule.code, rule.http_status or 400, details, headers)
        admitted = self._admit(number, send.arrived)
        if self.latency:
            await asyncio.sleep(self.latency)
        if not admitted:
            return self._error(130429, 400, "Cloud API message throughput has been reached.")
        problem = self._check_template(body.get("template") or {})
        if problem is not None:
            return self._error(*problem)
        # Accepted: from here on the message goes out, whether or not the answer reaches the client.
        send.wamid = f"wamid.FAKE{next(self._wamids):016d}"
        if self.webhook_url:
            asyncio.get_running_loop().create_task(self._auto_statuses(number, send))
        if rule is not None and rule.delay:
            await asyncio.sleep(rule.delay)  # a slow answer to an accepted send
        to = send.to
        contact = {"input": to, "wa_id": to.lstrip("+")} if body.get("to") else {"input": to, "user_id": to}
        return JSONResponse({"messaging_product": "whatsapp", "contacts": [contact],
                             "messages": [{"id": send.wamid, "message_status": "accepted"}]})

    def _check_template(self, sent: dict[str, Any]) -> tuple[int, int, str] | None:
        """Meta's semantic checks of a template send, by its own simple counting."""
        language = (sent.get("language") or {}).get("code")
        template = self._template(str(sent.get("name")), str(language))
        if template is None or template["status"] in ("PENDING", "REJECTED", "DELETED", "ARCHIVED"):
            return 132001, 404, f"template name ({sent.get('name')}) does not exist in {language}"
        if template["status"] == "PAUSED":
            return 132015, 400, f"Template {template['name']} is paused"
        if template["status"] == "DISABLED":
            return 132016, 400, f"Template {template['name']} is disabled"
        named = str(template.get("parameter_format", "POSITIONAL")).upper() == "NAMED"
        return _check_components(template["components"], sent.get("components") or [], named)

    # --- webhooks back to wacast ---------------------------------------------------------

    def sign(self, raw: bytes) -> str:
        return "sha256=" + hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()

    def _envelope(self, field_name: str, value: dict[str, Any], entry_id: str | None = None) -> dict[str, Any]:
        return {"object": "whatsapp_business_account",
                "entry": [{"id": entry_id or self.waba_id, "changes": [{"field": field_name, "value": value}]}]}

    def _metadata(self, phone_number_id: str) -> dict[str, Any]:
        return {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": self.display_phone_number, "phone_number_id": phone_number_id}}

    def status_body(self, send: Send | None = None, status: str = "delivered", *, phone_number_id: str | None = None,
                    wamid: str | None = None, recipient: str | None = None, message_id: str | None = None,
                    timestamp: int | None = None, errors: list[dict] | None = None,
                    pricing_category: str | None = "utility") -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": wamid or (send.wamid if send else "wamid.UNKNOWN"),
            "status": status,
            "timestamp": str(timestamp or int(time.time())),
            "recipient_id": (recipient or (send.to if send else "10000000000")).lstrip("+"),
        }
        opaque = message_id or (send.message_id if send else None)
        if opaque:
            entry["biz_opaque_callback_data"] = opaque
        if pricing_category and status in ("sent", "delivered"):
            entry["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": pricing_category}
        if errors:
            entry["errors"] = errors
        value = {**self._metadata(phone_number_id or (send.phone_number_id if send else "0")), "statuses": [entry]}
        return self._envelope("messages", value)

    @staticmethod
    def failed_error(code: int, details: str = "") -> dict[str, Any]:
        title = TITLES.get(code, "Error")
        return {"code": code, "title": title, "message": title, "error_data": {"details": details or title},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}

    def inbound_body(self, phone_number_id: str, sender: str, *, text: str | None = None, button_payload: str | None = None,
                     button_text: str | None = None, context_wamid: str | None = None, name: str = "Asha Verma",
                     wamid: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"from": sender.lstrip("+"), "id": wamid or f"wamid.IN{next(self._wamids):016d}",
                                   "timestamp": str(int(time.time()))}
        if button_payload is not None:
            message.update(type="button", button={"payload": button_payload, "text": button_text or button_payload})
        else:
            message.update(type="text", text={"body": text or ""})
        if context_wamid:
            message["context"] = {"from": self.display_phone_number, "id": context_wamid}
        value = {**self._metadata(phone_number_id), "contacts": [{"profile": {"name": name}, "wa_id": sender.lstrip("+")}],
                 "messages": [message]}
        return self._envelope("messages", value)

    def preference_body(self, phone_number_id: str, wa_id: str, value: str) -> dict[str, Any]:
        """The user_preferences event: marketing messages stopped or resumed by the person."""
        preference = {"wa_id": wa_id.lstrip("+"), "detail": f"User requested to {value} marketing messages",
                      "category": "marketing_messages", "value": value, "timestamp": int(time.time())}
        return self._envelope("user_preferences", {**self._metadata(phone_number_id),
                                                    "contacts": [{"wa_id": wa_id.lstrip("+")}],
                                                    "user_preferences": [preference]})

    def template_status_body(self, name: str, event: str, *, language: str = "en", reason: str = "NONE",
                             waba_id: str | None = None) -> dict[str, Any]:
        template = self._template(name, language)
        value = {"event": event, "message_template_id": int(template["id"]) if template else 1,
                 "message_template_name": name, "message_template_language": language, "reason": reason}
        return self._envelope("message_template_status_update", value, entry_id=waba_id)

    def template_quality_body(self, name: str, new: str, previous: str = "GREEN", language: str = "en") -> dict[str, Any]:
        template = self._template(name, language)
        value = {"previous_quality_score": previous, "new_quality_score": new,
                 "message_template_id": int(template["id"]) if template else 1,
                 "message_template_name": name, "message_template_language": language}
        return self._envelope("message_template_quality_update", value)

    def template_category_body(self, name: str, new: str, *, previous: str | None = None, correct: str | None = None,
                               at: int | None = None, language: str = "en") -> dict[str, Any]:
        """template_category_update: done (`previous` and `new`), or impending (`correct` is the
        category Meta will move it to at `at`; `new` is then its category now), as Meta sends it."""
        template = self._template(name, language)
        value: dict[str, Any] = {"message_template_id": int(template["id"]) if template else 1,
                                 "message_template_name": name, "message_template_language": language, "new_category": new}
        if correct is not None:
            value.update(correct_category=correct, category_update_timestamp=at or int(time.time()) + 86400)
        elif previous is not None:
            value["previous_category"] = previous
        return self._envelope("template_category_update", value)

    def number_quality_body(self, event: str, *, current_limit: str | None = None, old_limit: str | None = None,
                            portfolio_limit: str | None = None, quality_rating: str | None = None,
                            display_phone_number: str | None = None, waba_id: str | None = None) -> dict[str, Any]:
        """phone_number_quality_update as Meta sends it (webhooks/reference/phone_number_quality_update):
        the display number, the event (FLAGGED, UNFLAGGED, DOWNGRADE, UPGRADE, ONBOARDING,
        THROUGHPUT_UPGRADE), the number's limits (old_limit only on a limit change), the portfolio's
        (max_daily_conversations_per_business), and a quality_rating as the phone number's field."""
        value: dict[str, Any] = {"display_phone_number": display_phone_number or self.display_phone_number, "event": event}
        if old_limit is not None:
            value["old_limit"] = old_limit
        if current_limit is not None:
            value["current_limit"] = current_limit
        if portfolio_limit is not None:
            value["max_daily_conversations_per_business"] = portfolio_limit
        if quality_rating is not None:
            value["quality_rating"] = quality_rating
        body = self._envelope("phone_number_quality_update", value, entry_id=waba_id)
        body["entry"][0]["time"] = int(time.time())
        return body

    def signed(self, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        raw = orjson.dumps(body)
        return raw, {"content-type": "application/json", "x-hub-signature-256": self.sign(raw)}

    async def post_webhook(self, body: dict[str, Any], *, client: httpx.AsyncClient | None = None,
                           url: str | None = None, signature: str | None = ...) -> httpx.Response:  # type: ignore[assignment]
        """POST a signed webhook to wacast (`client`: an httpx client on wacast's app; or a URL).

        `signature=None` sends none, a string sends that one instead of the right one."""
        raw, headers = self.signed(body)
        if signature is None:
            del headers["x-hub-signature-256"]
        elif signature is not ...:
            headers["x-hub-signature-256"] = signature
        if client is not None:
            return await client.post(url or "/webhooks/whatsapp", content=raw, headers=headers)
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.post(url or self.webhook_url, content=raw, headers=headers)

    async def _auto_statuses(self, number: str, send: Send) -> None:
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                for status in ("sent", "delivered"):
                    raw, headers = self.signed(self.status_body(send, status, phone_number_id=number))
                    response = await http.post(self.webhook_url, content=raw, headers=headers)
                    self.webhooks_posted.append((response.status_code, {"status": status, "wamid": send.wamid}))
        except httpx.HTTPError as error:
            self.webhooks_posted.append((0, {"error": repr(error)}))


def max_in_window(arrivals: list[float], window: float = 1.0) -> int:
    """The most arrivals within any `window` seconds."""
    times = sorted(arrivals)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _placeholders(text: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def _mismatch(where: str, given: int, expected: int) -> tuple[int, int, str]:
    return (132000, 400, f"{where}: number of localizable_params ({given}) does not match the expected number of params ({expected})")


def _check_components(defined: list[dict], sent: list[dict], named: bool, where: str = "") -> tuple[int, int, str] | None:
    by_type: dict[str, list[dict]] = collections.defaultdict(list)
    for component in sent:
        by_type[str(component.get("type", "")).lower()].append(component)
    for component in defined:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            fmt = str(component.get("format", "TEXT")).upper()
            params = (by_type["header"][0].get("parameters") or []) if by_type["header"] else []
            if fmt == "TEXT":
                expected = len(_placeholders(component.get("text", "")))
                if len(params) != expected:
                    return _mismatch(f"{where}header", len(params), expected)
            else:
                want = {"GIF": "video"}.get(fmt, fmt.lower())
                if len(params) != 1 or params[0].get("type") != want or not isinstance(params[0].get(want), dict):
                    return (132012, 400, f"{where}header: Format mismatch, expected {fmt}, received {params[0].get('type') if params else 'nothing'}")
                if want == "location" and not {"latitude", "longitude"} <= set(params[0]["location"]):
                    return (131008, 400, f"{where}header: location requires latitude and longitude")
        elif kind == "BODY":
            names = _placeholders(component.get("text", ""))
            params = (by_type["body"][0].get("parameters") or []) if by_type["body"] else []
            if len(params) != len(names):
                return _mismatch(f"{where}body", len(params), len(names))
            if named and sorted(str(p.get("parameter_name")) for p in params) != sorted(names):
                return (132000, 400, f"{where}body: parameter names do not match the template's ({', '.join(names)})")
        elif kind == "BUTTONS":
            sent_buttons = {int(b.get("index", -1)): b for b in by_type["button"]}
            for index, button in enumerate(component.get("buttons") or []):
                btype = str(button.get("type", "")).upper()
                needs = (btype == "URL" and PLACEHOLDER.search(button.get("url", ""))) or btype == "COPY_CODE"
                got = sent_buttons.get(index)
                if needs and (got is None or not got.get("parameters")):
                    return (131008, 400, f"{where}buttons: button at index {index} of type {btype} requires a parameter")
                if got is not None:
                    want_sub = {"URL": "url", "COPY_CODE": "copy_code", "QUICK_REPLY": "quick_reply"}.get(btype)
                    if got.get("sub_type") != want_sub:
                        return (132012, 400, f"{where}buttons: button at index {index} is {btype}, sent {got.get('sub_type')}")
        elif kind == "CAROUSEL":
            cards = (by_type["carousel"][0].get("cards") or []) if by_type["carousel"] else []
            if len(cards) != len(component.get("cards") or []):
                return (132012, 400, f"carousel: expected {len(component.get('cards') or [])} cards, received {len(cards)}")
            for i, (card_def, card) in enumerate(zip(component["cards"], cards, strict=True)):
                problem = _check_components(card_def.get("components") or [], card.get("components") or [], named, f"cards[{i}].")
                if problem is not None:
                    return problem
    return None


def main() -> None:
    """Run the fake Meta as its own process (its arrival times then do not share a GIL with
    the test): python -m tests.support.fake_meta --port P [--latency 0.2]. The factories'
    templates are published; GET /_control/sends returns the send log."""
    import argparse

    from tests.support.cloud import publish_templates

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    fake = FakeMeta(latency=args.latency)
    publish_templates(fake)
    fake.port = args.port
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, backlog=4096)


if __name__ == "__main__":
    main()


class FakeMetaProcess:
    """The fake Meta in its own process (`python -m tests.support.fake_meta`), with the factories'
    templates published. Use it where arrival times matter (throughput caps): a fake Meta in the
    test's own process stamps arrivals late whenever the test holds the GIL."""

    def __init__(self, log_path: Any, latency: float = 0.0) -> None:
        import subprocess
        import sys
        from pathlib import Path

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.base_url = f"http://127.0.0.1:{self.port}"
        root = Path(__file__).resolve().parents[2]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.fake_meta", "--port", str(self.port), "--latency", str(latency)],
                env={**env, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}, cwd=root, stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, "the fake Meta process died"
            try:
                httpx.get(self.base_url + "/_control/sends", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the fake Meta process did not start"
                time.sleep(0.05)

    def sends(self) -> list[dict[str, Any]]:
        return httpx.get(self.base_url + "/_control/sends", timeout=10).json()

    async def asends(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as http:
            return (await http.get(self.base_url + "/_control/sends")).json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.process.kill()
                self.process.wait()
