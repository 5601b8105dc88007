"""Saved views (SavedView), the column chooser's choices (ColumnPreference) and the filters'
known values (KnownValue): small tables of the console's own, read and written by the app role."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('logcenter', '0022_usage_hourly_by_key'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='KnownValue',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('field', models.CharField(max_length=64)),
                ('value', models.CharField(max_length=254)),
                ('last_seen_at', models.DateTimeField()),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'field', 'value'), name='known_value_key')],
            },
        ),
        migrations.CreateModel(
            name='ColumnPreference',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=16)),
                ('columns', models.JSONField(default=list)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='column_preferences', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('user', 'kind'), name='column_preference_key')],
            },
        ),
        migrations.CreateModel(
            name='SavedView',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('kind', models.CharField(max_length=16, verbose_name='kind')),
                ('filters', models.JSONField(blank=True, default=dict, verbose_name='filters')),
                ('ordering', models.CharField(blank=True, default='', max_length=32, verbose_name='sort')),
                ('columns', models.JSONField(blank=True, default=list, verbose_name='columns')),
                ('page_size', models.PositiveIntegerField(blank=True, null=True, verbose_name='page size')),
                ('is_default', models.BooleanField(default=False, verbose_name='default')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_views', to=settings.AUTH_USER_MODEL)),
                ('shared_with_role', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='auth.group', verbose_name='shared with role')),
            ],
            options={
                'ordering': ['kind', 'name', 'id'],
                'indexes': [models.Index(fields=['owner', 'kind'], name='saved_view_owner_idx'), models.Index(fields=['shared_with_role', 'kind'], name='saved_view_role_idx')],
                'constraints': [models.UniqueConstraint(condition=models.Q(('is_default', True)), fields=('owner', 'kind'), name='saved_view_one_default')],
            },
        ),
    ]
