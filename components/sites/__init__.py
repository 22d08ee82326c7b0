"""One package per kind of site, where the application runs in one region (see `components.site`): `ecs`
(`aws` layout), `doks` (`digitalocean`), `ovh` (`ovh-hybrid`), each owning its layout's config model, checks and
component. The modules beside them (`replicas`, `ovh_config`, `haproxy_config`) only keep older import paths and
the replica command's module path working."""
