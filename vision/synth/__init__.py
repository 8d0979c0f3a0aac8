"""A seeded generator of board images with exact truth (a test instrument).

The truth comes from the geometry placed in the scene, never from the image. Truth documents
follow the schema of ``shared/data/rendered-dev/*/truth.json`` (the fields a generator knows),
so the same test harness reads both.
"""
