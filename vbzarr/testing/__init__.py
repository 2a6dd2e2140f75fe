"""Test helpers other projects can reuse: a local S3 server that counts requests, strategies."""
