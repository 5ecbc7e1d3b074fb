"""Idempotency-Key for the campaign API and every REST write: claims in the database, replays."""
