"""gRPC services, one folder each: a thin servicer over a pure core."""
