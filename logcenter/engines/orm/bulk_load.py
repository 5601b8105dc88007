"""The portable bulk load: bulk_create from one process (Engine.bulk_load).

Rows arrive as tuples with JSON and decimals as text (what COPY takes); they become model
instances here. Nothing else is kept up to date: the caller rebuilds the rollups.
"""

import json
from decimal import Decimal

from django.db import models

from logcenter.engines.base import BulkLoad


class OrmBulkLoad(BulkLoad):
    def __init__(self, kind, fields, start, end, count):
        self.model = kind.model
        self.fields = tuple(fields)
        self.converters = []  # (field name, from text to the model's value)
        for name in self.fields:
            field = self.model._meta.get_field(name)
            if isinstance(field, models.JSONField):
                self.converters.append((name, _json))
            elif isinstance(field, models.DecimalField):
                self.converters.append((name, _decimal))

    def write(self, first, rows):
        model, fields, converters = self.model, self.fields, self.converters
        instances = []
        for row in rows:
            values = dict(zip(fields, row))
            for name, convert in converters:
                values[name] = convert(values[name])
            instances.append(model(**values))
        model.objects.bulk_create(instances, batch_size=2_000)

    def finish(self):
        pass  # rows are whole once written


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _decimal(value):
    return Decimal(value) if isinstance(value, str) else value
