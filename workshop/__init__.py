"""Helpers the workshop notebooks import: data sources, training artifacts, the stack, PromQL, traffic.

What a lesson is *about* stays in the notebooks; the plumbing lives here and is tested in tests/.
"""
