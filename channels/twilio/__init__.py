"""Twilio Programmable Messaging (SMS): send, webhooks, signature, status map and sandbox fake."""
