"""The pure IaC engine: stack documents, references, the dependency graph, sizing and plans.

Everything here is deterministic (it runs inside Temporal workflow code): no clock, no
randomness, no I/O except `stack.load_stack_file`.
"""
