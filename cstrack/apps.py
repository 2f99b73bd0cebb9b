from django.apps import AppConfig


class CstrackConfig(AppConfig):
    name = "cstrack"
    verbose_name = "cstrack 공통"

    def ready(self):
        from . import signals  # noqa: F401
