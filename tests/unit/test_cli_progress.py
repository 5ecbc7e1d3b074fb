"""`wacast broadcasts show|progress` says why held messages wait, as the dashboard does."""

from wacast.cli import broadcasts as cli_broadcasts


def test_the_progress_lists_held_and_skipped_messages_with_their_reasons():
    data = {"type": "broadcast", "status": "running", "progress": {
        "total": 60, "queued": 49, "sent": 8, "delivered": 0, "read": 0, "failed": 0, "replied": 0, "skipped": 3,
        "held": 49, "held_reasons": {"quiet hours until 09:00 Asia/Kolkata": 49},
        "skip_reasons": {"opted out": 3}, "percent_done": 18.3,
    }}
    with cli_broadcasts.console.capture() as captured:
        cli_broadcasts.render_progress(data)
    out = captured.get()
    assert "held 49: quiet hours until 09:00 Asia/Kolkata" in out
    assert "skipped 3: opted out" in out
