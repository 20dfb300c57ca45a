"""Client-side tooling (embedded server, demo data); never imported by the backend."""
