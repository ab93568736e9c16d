"""Renderers: each turns one ``AuditReport`` into one output."""
