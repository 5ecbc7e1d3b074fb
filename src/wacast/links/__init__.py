"""Clicks and conversions: tracked links (`/r/{token}`), the clicks on them, and the business's
conversions attributed to the messages that earned them."""
