# The export job records its snapshot (time, window) and its columns instead of a trailing
# line in the file. Adding nullable or defaulted columns to a small table: no long lock.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("logcenter", "0023_saved_views_known_values"),
    ]

    operations = [
        migrations.AddField(model_name="exportjob", name="columns",
                            field=models.JSONField(blank=True, default=list)),
        migrations.AddField(model_name="exportjob", name="time_zone",
                            field=models.CharField(blank=True, default="", max_length=64)),
        migrations.AddField(model_name="exportjob", name="snapshot_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="exportjob", name="window_start",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="exportjob", name="window_end",
                            field=models.DateTimeField(blank=True, null=True)),
    ]
