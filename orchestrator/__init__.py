"""Continuum: omnichannel interaction orchestration."""
