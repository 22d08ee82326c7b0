"""Pulumi program: read the `dr:` stack config once, declare the chosen layout, export its outputs."""

import pulumi

from components.config import ConfigError, load_stack_config
from components.layouts import build

try:
    config = load_stack_config()
except ConfigError as error:
    # RunError: the CLI prints the one-line message without a Python traceback.
    raise pulumi.RunError(str(error)) from None

for key, value in build(config, pulumi.get_stack()).items():
    pulumi.export(key, value)
