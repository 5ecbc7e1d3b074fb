"""The REST edge: one router module per resource, calling the domains' services (never their SQL)."""
