"""Gateway: the aiohttp app (the only door to the outside), its background workers and the routing of texts."""
