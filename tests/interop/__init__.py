"""Interop tests against real, independent ActivityPub implementations."""
