"""Twilio's voice webhooks: thin handlers over the call service."""

from .routes import bp

__all__ = ["bp"]
