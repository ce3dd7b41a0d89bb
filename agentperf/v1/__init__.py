"""Generated protobuf and gRPC stubs (do not edit; `make protos` regenerates them)."""
