"""The media of received messages, fetched from Meta through wacast (docs/media.md).

A reply keeps Meta's media id with its mime type, sha256, caption and file name
(messages/repository_replies.media_of_project). To show the file, wacast asks Meta for it
with the project's own token (Graph `GET /{media-id}?phone_number_id=`, then the download of
the URL it answers, meta/client.py: only on Meta's hosts, streamed, size-limited), checks the
bytes against the sha256 Meta gave, and keeps them in `inbound_media` keyed by (project,
media id). The rules:

- a media id is served only to the project one of whose replies carries it, else
  MEDIA_NOT_FOUND (404), the same answer as for an id nobody sent: another project's media
  cannot even be told to exist;
- a file over WACAST_MEDIA_MAX_BYTES is refused (MEDIA_TOO_LARGE, 413) and nothing is kept;
- bytes that do not match Meta's sha256 (the media endpoint's hex one, or the webhook's
  base64 one) are refused (MEDIA_CHECKSUM_MISMATCH, 502) and not kept;
- a sandbox project (no Meta credentials) has nothing to fetch from: MEDIA_UNAVAILABLE (409),
  unless the file was cached while the project still had them;
- what Meta no longer has (its media ids last 30 days) is MEDIA_EXPIRED (410);
- cached files are removed WACAST_MEDIA_CACHE_DAYS after they were fetched (the Purges loop).

`fetch_media` opens its own sessions: the download from Meta happens between the read (is
this the project's media? is it cached?) and the write (keep it), and must not hold SQLite's
write lock while it waits for Meta. Its steps (`find_media`, `download`, `keep_media`) take a
session or none, as usual.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.messages import repository_replies as replies
from wacast.meta.client import GraphClient, GraphError, MediaHostRefused, MediaTooLarge
from wacast.models.projects import Project
from wacast.whatsapp import repository_media as repo
from wacast.whatsapp.media_policy import HEADERS, clean_mime, content_disposition, digest_mismatches, sha256_hex

log = logging.getLogger("wacast.whatsapp.media")

MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


@dataclass(frozen=True)
class MediaRef:
    """What a reply of the project says of a media id."""

    media_id: str
    kind: str | None
    mime_type: str | None
    sha256: str | None
    caption: str | None
    filename: str | None


@dataclass(frozen=True)
class MediaFile:
    media_id: str
    kind: str | None
    mime_type: str
    sha256: str  # hex, of `content`
    content: bytes
    filename: str | None
    caption: str | None
    fetched_at: datetime
    from_cache: bool

    @property
    def size(self) -> int:
        return len(self.content)

    def headers(self) -> dict[str, str]:
        """The answer's headers: the stored mime type, inline or attachment with a safe file
        name, never sniffed, a CSP that runs nothing, cached only privately."""
        return {**HEADERS, "Content-Disposition": content_disposition(self.kind, self.mime_type, self.filename, self.media_id)}


def _not_found(media_id: str) -> NotFound:
    return NotFound("Media not found", "MEDIA_NOT_FOUND", {"media_id": media_id[:200]})


# --- the steps -----------------------------------------------------------------------------


async def find_media(session: AsyncSession, project: Project, media_id: str) -> tuple[MediaRef, MediaFile | None]:
    """The project's reference to the media id and its cached file (None: not cached yet).
    MEDIA_NOT_FOUND when no reply of this project carries that media id."""
    if not isinstance(media_id, str) or not MEDIA_ID.match(media_id):
        raise _not_found(media_id if isinstance(media_id, str) else "")
    found = await replies.media_of_project(session, project.id, media_id)
    if found is None:
        raise _not_found(media_id)
    ref = MediaRef(media_id, _str(found.get("kind")), _str(found.get("mime_type")), _str(found.get("sha256")),
                   _str(found.get("caption")), _str(found.get("filename")))
    row = await repo.cached(session, project.id, media_id)
    if row is None:
        return ref, None
    return ref, MediaFile(media_id, ref.kind, row.mime_type, row.sha256, row.content, ref.filename, ref.caption,
                          row.fetched_at, from_cache=True)


async def download(project: Project, ref: MediaRef, *, settings: Settings, graph: GraphClient | None = None) -> MediaFile:
    """The file from Meta with the project's token (no session: a network call). Raises the
    codes of the module's docstring; nothing is kept here."""
    if project.provider != "cloud" or not project.access_token:
        raise WacastError(
            "This project has no Meta connection (sandbox): received media cannot be fetched", "MEDIA_UNAVAILABLE",
            {"media_id": ref.media_id, "provider": project.provider}, status_code=409,
        )
    own = graph is None
    client = graph or GraphClient(settings.graph_api_url, settings.graph_api_version, timeout=settings.graph_api_timeout,
                                  max_connections=4)
    limit = settings.media_max_bytes
    try:
        info = await client.media_info(ref.media_id, project.access_token, project.phone_number_id)
        if info["file_size"] is not None and info["file_size"] > limit:
            raise MediaTooLarge(limit, info["file_size"])
        content, content_type = await client.download_media(info["url"], project.access_token, limit)
    except MediaTooLarge as error:
        raise WacastError(
            f"The media file is larger than the limit of {limit} bytes (WACAST_MEDIA_MAX_BYTES)", "MEDIA_TOO_LARGE",
            {"media_id": ref.media_id, "max_bytes": limit, "size": error.declared}, status_code=413,
        ) from None
    except MediaHostRefused as error:
        log.warning("media %s of project %s: Meta's download URL is on %r, not a Meta host; not fetched",
                    ref.media_id, project.id, error.host)
        raise WacastError(
            "Meta's download URL for this media is not on a Meta host; it was not fetched", "MEDIA_HOST_REFUSED",
            {"media_id": ref.media_id, "host": error.host}, status_code=502,
        ) from None
    except GraphError as error:
        problem = error.error
        if problem.http_status in (404, 410) or (problem.code == 100 and problem.http_status == 400):
            raise WacastError(
                "Meta no longer has this media (it keeps received media for a limited time)", "MEDIA_EXPIRED",
                {"media_id": ref.media_id, **problem.as_dict()}, status_code=410,
            ) from None
        raise WacastError(f"Meta refused the media request: ({problem.code}) {problem.title}", "META_ERROR",
                          problem.as_dict(), status_code=502) from None
    except httpx.HTTPError as error:
        raise WacastError(f"Meta could not be reached for the media: {type(error).__name__}", "META_UNREACHABLE",
                          status_code=502) from None
    finally:
        if own:
            await client.close()
    wrong = digest_mismatches(content, info["sha256"], ref.sha256)
    if wrong:
        log.warning("media %s of project %s: the %d bytes downloaded do not match Meta's sha256; not kept",
                    ref.media_id, project.id, len(content))
        raise WacastError(
            "The media downloaded from Meta does not match its sha256; it was not kept", "MEDIA_CHECKSUM_MISMATCH",
            {"media_id": ref.media_id, "sha256": sha256_hex(content)}, status_code=502,
        )
    mime = clean_mime(info["mime_type"], ref.mime_type, content_type)
    return MediaFile(ref.media_id, ref.kind, mime, sha256_hex(content), content, ref.filename, ref.caption,
                     utcnow(), from_cache=False)


async def keep_media(session: AsyncSession, project_id: uuid.UUID, file: MediaFile) -> bool:
    """Cache the file (flushes); False when it was cached meanwhile."""
    return await repo.keep(session, project_id=project_id, media_id=file.media_id, mime_type=file.mime_type,
                           sha256=file.sha256, content=file.content, fetched_at=file.fetched_at)


# --- the use case --------------------------------------------------------------------------


async def fetch_media(db: Database, project: Project, media_id: str, *, settings: Settings,
                      graph: GraphClient | None = None) -> MediaFile:
    """The project's media file: from the cache, else from Meta (then cached). See the
    module's docstring for the refusals; the download runs outside any transaction."""
    async with db.read() as session:
        ref, cached = await find_media(session, project, media_id)
    if cached is not None:
        return cached
    file = await download(project, ref, settings=settings, graph=graph)
    async with db.transaction() as session:
        await keep_media(session, project.id, file)
    log.info("media %s of project %s fetched from Meta (%d bytes, %s)", file.media_id, project.id, file.size, file.mime_type)
    return file


async def purge_cached_media(session: AsyncSession, days: float, *, now: datetime | None = None) -> int:
    """Forget cached files fetched more than `days` ago (WACAST_MEDIA_CACHE_DAYS); flushes."""
    return await repo.purge_fetched_before(session, (now or utcnow()) - timedelta(days=days))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
