"""Entry points called from the SQL function bodies, one module per SQL area.

Each entry takes `plpy` and the extension version the SQL definition was built
for, so the backend can refuse to run code of another version.
"""
