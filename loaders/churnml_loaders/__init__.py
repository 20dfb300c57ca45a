"""churnml loaders: export query results to S3-compatible storage and load them back."""
