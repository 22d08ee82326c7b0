"""Failover runtime: orchestrator Lambda, monitor, application client and health endpoint.

Never imports Pulumi: this package ships in Lambda zips and application images.
"""
