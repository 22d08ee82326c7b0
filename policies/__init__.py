"""The policy pack: rule functions (rules.py), their pulumi_policy wrappers (pack.py), the offline evaluator."""
