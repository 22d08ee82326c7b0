"""Pulumi program: read the `dr:` stack config once, declare the chosen layout (or one tier of it), export its
outputs."""

import pulumi

from components.config import ConfigError, load_stack_config
from components.layouts import build

try:
    config = load_stack_config()
    outputs = build(config, pulumi.get_stack())
except ConfigError as error:
    # RunError: the CLI prints the one-line message without a Python traceback.
    raise pulumi.RunError(str(error)) from None

for key, value in outputs.items():
    pulumi.export(key, value)
