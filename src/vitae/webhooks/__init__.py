"""Webhooks: signed calls to the client's server when an export ends."""
