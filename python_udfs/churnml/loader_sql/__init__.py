"""What the loaders need from SQL, through SPI: the storage grants of the calling role
(storage_access) and COPY of spooled records into a table (table_loader).

Everything else about object storage (URIs, locations, the server's credentials, S3,
parts, manifests, the upload helper) is churnml_loaders, which never imports churnml.
"""
