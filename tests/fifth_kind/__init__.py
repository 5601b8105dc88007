"""A fifth log kind, installed only by the test settings (config/settings_test.py).

It is what docs/adding-a-kind.md asks of a kind and nothing more: a model, its migration
(with the append-only trigger), a FilterSet, a Table, a serializer and a registry entry,
plus the tests' factory and a demo generator. Every registry-walking test then covers it,
and tests/logcenter/test_kinds.py checks that it got its pages, API, export, retention,
roles and trigger with no other file touched.
"""
