"""The registry domain: blobs, uploads, manifests, tags and garbage collection over a storage driver.

Nothing here knows HTTP: the ``api`` package calls in with parsed value types
and turns the ``wharf.errors`` raised here into responses.
"""
