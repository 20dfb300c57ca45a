#!/bin/sh
# Print the Python interpreter whose ABI the server's PL/Python embeds.
# We read it off plpython3.so's libpython dependency instead of assuming, because a
# runtime built for another minor version fails to import numpy in the backend.
# usage: backend-python.sh PG_CONFIG
set -eu
pg_config=${1:-pg_config}
lib="$("$pg_config" --pkglibdir)/plpython3.so"
if [ ! -r "$lib" ]; then
    echo "backend-python: $lib not found; install PL/Python (Debian: postgresql-plpython3-<major>)" >&2
    exit 1
fi
libpython=$(ldd "$lib" | sed -n 's/.*\(libpython3\.[0-9]*\).*/\1/p' | head -n 1)
if [ -z "$libpython" ]; then
    echo "backend-python: cannot tell which libpython $lib links" >&2
    exit 1
fi
name=python${libpython#libpython}
for candidate in "/usr/bin/$name" "/usr/local/bin/$name" "$(command -v "$name" 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        echo "$candidate"
        exit 0
    fi
done
echo "backend-python: PL/Python embeds $libpython but no $name interpreter is installed" >&2
exit 1
