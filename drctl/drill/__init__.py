"""`python -m drctl drill`: a DR drill on loopback that measures detection, RTO and RPO end to end.

Pure parts, tested directly: `route53` (Route 53's health checks and failover answers), `measure` (figures
from records), `verdict` (timers, budget per scenario, pass/fail), `report` (JSON, table, timelines). Live
parts: `loopback` (gates, session, applications), `live` (the running actors), `world`, `scenarios`, `runner`.
"""
