"""`drctl drill`, a room of its own in drctl: the DR drill proves on loopback that the runtime keeps one writer and
meets the production RTO/RPO budget, by running the real `failover/` code against a whole deployment (AWS on a moto
server, the network's gates, applications and their writers, Route 53's checkers and alarm, users) while scenarios
inject outages, partitions, late and duplicated messages and orchestrator crashes, then judging the recorded history.
Pure parts, tested directly: `route53`, `history`, `verdict`, `report`, `timescale`; the world: `moto_process`,
`aws`, `network`, `apps`, `eventual`, `actors`, `invocations`, `runtime`, `world`; what runs it: `scenarios`,
`runner`, and `selftest` (each known defect injected into a copy of `failover/` must make the drill fail).
`drill --live` runs one FIS experiment in the user's own account instead: `live_run` (the pure poll step and
verdict), `live_aws` (the AWS calls), `live_cli` (config checks, confirmation, the loop, the report).
"""
