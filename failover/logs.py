"""The orchestrator Lambda's logger, one object for every module of the invocation: Powertools' structured logger in
Lambda (its layer), plain logging where the layer is absent (tests, drills, scripts)."""

import logging
import os

try:  # the Powertools layer in Lambda; plain logging where it is absent
    from aws_lambda_powertools import Logger

    # No service= argument: Powertools then takes it from POWERTOOLS_SERVICE_NAME, which the stack sets.
    logger: Logger | logging.Logger = Logger()
except ImportError:  # pragma: no cover - exercised only without the layer
    logger = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "dr-orchestrator"))
