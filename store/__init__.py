"""Persistence: tables, engine, data functions, blob storage, import jobs, and the CLI."""
