"""Billing: the rate card, Meta's pricing of each message, the ledger, cost estimates and budgets."""
