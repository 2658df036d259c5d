from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "djshop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
