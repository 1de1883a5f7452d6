"""Sharing agreements: documents, versions, approvals, terms; decide(); redaction.

The pure core (document, request, plan, decide, redact, cedar, replay) imports
nothing from store, web or cli; ``service`` and ``warrants`` are the store adapters.
"""
