from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField(model_name="customer", name="nickname", field=models.CharField(max_length=30, null=True)),
        migrations.AlterField(model_name="customer", name="name", field=models.CharField(max_length=200)),
    ]
