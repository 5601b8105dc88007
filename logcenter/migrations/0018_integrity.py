"""Tamper evidence (logcenter.integrity): digest blocks and removal records, both signed,
chained per kind and append-only; verification runs; the export option include_digests.

On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE on the block and removal tables
(no purge setting passes it: they are never purged). TRUNCATE is let through only in a
database named test_… (Django's test databases, emptied with TRUNCATE between transactional
tests): `logcenter_truncate_allowed()`. The manifests and id lists are stored uncompressed
by PostgreSQL (hashes do not compress; the id lists already are).
"""

import django.utils.timezone
from django.db import migrations, models

TABLES = ("logcenter_digestblock", "logcenter_removalrecord")

FUNCTIONS = """
CREATE OR REPLACE FUNCTION logcenter_truncate_allowed() RETURNS boolean AS $$
    SELECT current_database() LIKE 'test\\_%';
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION logcenter_refuse_integrity_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND logcenter_truncate_allowed() THEN
        RETURN NULL;  -- statement-level: the return value is ignored
    END IF;
    RAISE EXCEPTION 'integrity records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTIONS, params=None)  # no placeholders: % is plpgsql here
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION logcenter_refuse_integrity_change()")
    schema_editor.execute("ALTER TABLE logcenter_digestblock ALTER COLUMN manifest "
                          "SET STORAGE EXTERNAL")
    schema_editor.execute("ALTER TABLE logcenter_removalrecord ALTER COLUMN ids "
                          "SET STORAGE EXTERNAL")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS logcenter_refuse_integrity_change()")
    schema_editor.execute("DROP FUNCTION IF EXISTS logcenter_truncate_allowed()")


class Migration(migrations.Migration):

    dependencies = [
        ('logcenter', '0017_provenance'),
    ]

    operations = [
        migrations.AddField(
            model_name='exportjob',
            name='include_digests',
            field=models.BooleanField(default=False),
        ),
        migrations.CreateModel(
            name='DigestBlock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('seq', models.PositiveBigIntegerField()),
                ('first_id', models.BigIntegerField()),
                ('last_id', models.BigIntegerField()),
                ('row_count', models.PositiveIntegerField()),
                ('first_occurred_at', models.DateTimeField(null=True)),
                ('last_occurred_at', models.DateTimeField(null=True)),
                ('manifest', models.BinaryField()),
                ('manifest_sha256', models.CharField(max_length=64)),
                ('prev_digest', models.CharField(max_length=64)),
                ('digest', models.CharField(max_length=64)),
                ('signature', models.CharField(max_length=128)),
                ('key_id', models.CharField(max_length=16)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['kind', 'seq'],
                'indexes': [models.Index(fields=['kind', 'last_id'], name='digest_block_last_id_idx')],
                'constraints': [models.UniqueConstraint(fields=('kind', 'seq'), name='digest_block_seq')],
            },
        ),
        migrations.CreateModel(
            name='IntegrityCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(null=True)),
                ('requested_by', models.CharField(blank=True, default='', max_length=150)),
                ('scope', models.CharField(blank=True, default='', max_length=120)),
                ('ok', models.BooleanField(default=False)),
                ('blocks_valid', models.PositiveBigIntegerField(default=0)),
                ('blocks_total', models.PositiveBigIntegerField(default=0)),
                ('rows_valid', models.PositiveBigIntegerField(default=0)),
                ('rows_total', models.PositiveBigIntegerField(default=0)),
                ('rows_removed', models.PositiveBigIntegerField(default=0)),
                ('removals_valid', models.PositiveBigIntegerField(default=0)),
                ('removals_total', models.PositiveBigIntegerField(default=0)),
                ('last_block_seq', models.PositiveBigIntegerField(null=True)),
                ('problem', models.JSONField(blank=True, default=dict)),
                ('problems', models.JSONField(blank=True, default=dict)),
            ],
            options={
                'ordering': ['-started_at', '-id'],
                'indexes': [models.Index(fields=['kind', 'started_at'], name='integrity_check_kind_idx')],
            },
        ),
        migrations.CreateModel(
            name='RemovalRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('seq', models.PositiveBigIntegerField()),
                ('reason', models.CharField(max_length=200)),
                ('before', models.DateTimeField(null=True)),
                ('row_count', models.PositiveBigIntegerField()),
                ('first_id', models.BigIntegerField()),
                ('last_id', models.BigIntegerField()),
                ('ids', models.BinaryField()),
                ('ids_sha256', models.CharField(max_length=64)),
                ('first_block_seq', models.PositiveBigIntegerField(null=True)),
                ('last_block_seq', models.PositiveBigIntegerField(null=True)),
                ('last_digest', models.CharField(max_length=64)),
                ('prev_digest', models.CharField(max_length=64)),
                ('digest', models.CharField(max_length=64)),
                ('signature', models.CharField(max_length=128)),
                ('key_id', models.CharField(max_length=16)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['kind', 'seq'],
                'constraints': [models.UniqueConstraint(fields=('kind', 'seq'), name='removal_record_seq')],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
