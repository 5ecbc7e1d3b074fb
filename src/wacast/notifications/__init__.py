"""Notifications: every warning of wacast (a budget at 80 %, a paused or halted broadcast, a held
category change, a template paused, a number's quality drop, an account hold) reaches people in
three ways: the dashboard's panel, the customer webhook `notification.created`, and an email to
the project's owners when SMTP is configured (docs/notifications.md).

- policy.py: pure rules (the text kept, the fingerprint of a repeat, the email's subject and
  body, the retry backoff); tests/unit/test_notification_policy.py;
- service.py: `notify` (the one call of every domain that warns) and the panel's use cases;
- repository.py: the SQL;
- mailer.py: the `Mailer` loop that sends the email outbox by SMTP.
"""
