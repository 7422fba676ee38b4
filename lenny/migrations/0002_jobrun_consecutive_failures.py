from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("lenny", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="jobrun",
            name="consecutive_failures",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
