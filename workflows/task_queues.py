"""Task queue names shared by workers, clients and the docs."""

PIPELINES = "wfctl-pipelines"
IAC = "wfctl-iac"
