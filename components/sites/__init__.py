"""One module per kind of site: where the application runs in one region (see `components.site`)."""
