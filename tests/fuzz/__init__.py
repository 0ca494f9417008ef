"""Fuzz suite: seeded generators of malformed bar files, configs, fault plans and scenarios."""
