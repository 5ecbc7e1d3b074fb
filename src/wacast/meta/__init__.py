"""Meta's WhatsApp Cloud API as wacast sees it: the Graph client, the message body, the error classes. Knows no wacast domain."""
