"""The HTTP API (FastAPI): ``from pars.web.app import create_app``.

Rule: records reach a response only through ``pars.gate``; no module here
imports the store's queries or tables.
"""
