"""Tekton Results: our own .proto files, generated stubs, and a gRPC + REST client."""
