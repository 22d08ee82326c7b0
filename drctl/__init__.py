"""The operator CLI for the DynamoDB DR stacks (`python -m drctl`): `preview` a stack offline under Pulumi's mocks,
with its policies and its RTO/RPO `budget`; `stacks` and `deploy`, the tier stacks in deploy order (the Automation
API); `verify` a live deployment against what its stack declares, and show its live `status` (`drctl.status`);
draw a stack's topology as a `diagram` (`drctl.diagram`); `haproxy`, an OVHcloud site's configuration as it would
be deployed; and the DR `drill` on loopback, a room of its own (`drctl.drill`)."""
