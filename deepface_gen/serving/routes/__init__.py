"""The server's routes, a module per resource; each ``router(service)`` is mounted by
``serving.app.create_app``."""
