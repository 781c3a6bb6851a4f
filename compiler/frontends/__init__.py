"""Frontends: each reads one model format into a Module of the nn dialect."""
