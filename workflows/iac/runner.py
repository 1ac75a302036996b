"""How the worker runs the IaC workflows: outside the Python SDK's sandbox.

The sandbox re-imports a workflow's module per run and checks every call it makes; it also
costs a trampoline into the sandbox (an `exec`) for every payload of every activation, three
times on the way in and three on the way out (the SDK's serialization-context lookups). A
large apply moves three payloads per resource action (its input, its UI summary, its
result), and those lookups were about a quarter of the worker's CPU per action in bench (d).

These workflows are wfctl's own code, not a user's: everything they import is passed
through the sandbox already, they reach the clock and randomness only through `workflow.*`,
and the replay tests hold them to their histories. The sandbox's checks are kept where they
catch mistakes -- in the tests: tests/test_iac_sandboxed.py runs every IaC workflow inside
the sandbox through apply, continue-as-new, failure, rollback, destroy, drift, status and
import, so a restricted call (a clock, a file, a random number) fails there.
"""

SANDBOXED = False
