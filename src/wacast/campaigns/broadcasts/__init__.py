"""Broadcast campaigns: one template to a segment (or an uploaded CSV), now or on a schedule.

- plan.py: the create request's plan (parameter sources, media, location, send_at); pure.
- policy.py: quiet hours, frequency cap, messaging tier, auto-pause; pure.
- audience_csv.py: an uploaded audience CSV, read; pure.
- service.py: the use cases (create, find, pause, resume, cancel, retry failed, send policy).
- presenter.py: progress and description.
- engine.py: the fan-out loop (`BroadcastEngine`).
- repository.py: every query.
"""
