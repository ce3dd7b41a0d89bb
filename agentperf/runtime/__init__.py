"""Plumbing every service shares, written once: server bootstrap, telemetry, error mapping."""
