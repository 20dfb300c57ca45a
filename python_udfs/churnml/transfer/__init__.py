"""Moving rows between SQL and files inside the backend: export lines and load records.

The object-storage side (URIs, S3, parts, manifests) is `churnml_loaders`; this
package is what PostgreSQL-specific work the server-side functions need around it.
"""
