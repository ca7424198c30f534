"""OpenHive gateway service."""
