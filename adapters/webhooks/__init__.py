"""Webhook calls over httpx, and the SSRF guard on the addresses they may reach."""

from adapters.webhooks.addresses import AddressPolicy, system_resolver
from adapters.webhooks.sender import HttpxWebhookSender

__all__ = ["AddressPolicy", "HttpxWebhookSender", "system_resolver"]
