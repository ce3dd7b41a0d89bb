"""The agent-replay engine shared by the load generator service and the CLI."""
