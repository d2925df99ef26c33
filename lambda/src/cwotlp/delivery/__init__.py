"""Getting requests to the collector: HTTP, authentication, export with retries, progress."""
