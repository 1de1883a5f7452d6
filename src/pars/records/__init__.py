"""Booking events and the record view: validation, identity, expungement (pure code)."""
