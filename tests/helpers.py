"""Helpers the tests import (fixtures live in conftest.py; pytest puts tests/ on the import path)."""


def metric_value(text: str, name: str, **labels) -> float:
    """Value of one sample in Prometheus text exposition format (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
