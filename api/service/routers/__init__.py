"""One router per resource; each route declares the permission it needs (api.service.deps)."""
