"""The Django application of the ORM suite: an encrypted customer (name, email, ssn) and a plain
order with a foreign key to it. Migrations 0001 (first) and 0002 (a field added, a length changed)
are what `makemigrations` writes for these models."""
from django.db import models


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    ssn = models.CharField(max_length=11, unique=True)
    nickname = models.CharField(max_length=30, null=True)


class Order(models.Model):
    total = models.IntegerField()
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
