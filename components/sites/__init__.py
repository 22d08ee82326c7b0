"""One module per kind of site: each declares its own resources and hands the DR plane a `Site`."""
