"""The project's guardrails (issue 17, parts 4 and 5) in REST: what a template recategorised
from UTILITY to MARKETING does (`on_category_change`: hold | continue) and what a drop of the
number's quality does to its marketing (`on_quality_drop`: slow | pause | continue), with the
number's rating and the portfolio's messaging limit as Meta last reported them; and (part 3)
what a MARKETING template to a region where Meta does not deliver it does
(`marketing_region_policy`: refuse | accept; projects/marketing_rules.py). The same service
functions as the dashboard's settings page (projects/service.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from wacast.api.auth import ApiIdentity
from wacast.api.common import allow_fields, body_doc
from wacast.api.segments import require_full_key
from wacast.campaigns import repository as campaigns_repo
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.kit.http import read_json
from wacast.projects import service as projects
from wacast.whatsapp.number_quality import number_view

router = APIRouter(prefix="/api/v1", tags=["Settings"])
FIELDS = ("on_category_change", "on_quality_drop", "marketing_region_policy")


async def _out(session: Any, project: Any) -> dict[str, Any]:
    view = await number_view(session, project, history=0)
    return {**projects.guardrail_settings(project), "number_quality": project.number_quality,
            "portfolio_limit": (view or {}).get("portfolio") and {k: v for k, v in view["portfolio"].items() if k != "updated_at"}}


@router.get("/settings/guardrails", summary="What a category change and a drop of the number's quality do to sends")
async def get_guardrails(session: ReadSession, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    return await _out(session, await projects.get(session, identity.project_id))


@router.patch("/settings/guardrails", summary="Set on_category_change (hold | continue), on_quality_drop (slow | pause | continue) "
              "and marketing_region_policy (refuse | accept)",
              **body_doc({"on_category_change": "hold", "on_quality_drop": "slow", "marketing_region_policy": "refuse"}, FIELDS))
async def patch_guardrails(request: Request, session: WriteSession, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise WacastError("The body must be a JSON object", "FIELD_INVALID", {"field": "body"})
    allow_fields(body, FIELDS)
    project = await projects.set_guardrails(session, identity.project_id, on_category_change=body.get("on_category_change"),
                                            on_quality_drop=body.get("on_quality_drop"),
                                            marketing_region_policy=body.get("marketing_region_policy"))
    campaigns_repo.forget_snapshots()  # the campaign API reads the policy with its campaign snapshot
    return await _out(session, project)
