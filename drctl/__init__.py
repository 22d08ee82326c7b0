"""The operator CLI: offline preview of a stack and its RTO/RPO budget."""
