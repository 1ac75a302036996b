"""Application files in the spec engine's dialect (GoCodeAlone/workflow): one YAML file with
`modules`, `pipelines`, `triggers`, `imports`, read into wfctl's own stack documents and step
configs. Pure: it reads the files and nothing else.
"""

from engine.appfile.loader import load_application
from engine.appfile.model import ApplicationFile, AppStacks, is_application_file
from engine.appfile.stacks import app_stacks, native_iac_step

__all__ = [
    "AppStacks",
    "ApplicationFile",
    "app_stacks",
    "is_application_file",
    "load_application",
    "native_iac_step",
]
