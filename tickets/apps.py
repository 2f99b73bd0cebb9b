from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "에스컬레이션"

    def ready(self):
        from cstrack.observability import register_work_collector

        from .metrics import WorkCollector

        register_work_collector("tickets", WorkCollector())
