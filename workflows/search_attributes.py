"""Custom search attributes that make runs findable in the UI and through visibility."""

from temporalio.common import SearchAttributeKey

PIPELINE_NAME = SearchAttributeKey.for_keyword("PipelineName")
STACK_NAME = SearchAttributeKey.for_keyword("StackName")
PHASE = SearchAttributeKey.for_keyword("Phase")

ALL = (PIPELINE_NAME, STACK_NAME, PHASE)
