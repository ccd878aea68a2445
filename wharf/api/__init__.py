"""The HTTP API: the only package that knows HTTP (Starlette, served by granian)."""
