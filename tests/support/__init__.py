"""Helpers shared by the unit, integration and molecule-adjacent tests."""
