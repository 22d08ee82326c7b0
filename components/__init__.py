"""Pulumi ComponentResources, the typed stack-config model and the layouts that wire them."""
