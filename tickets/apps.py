from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "에스컬레이션"

    def ready(self):
        from cstrack.observability import register_work_collector
        from notifications.templating import register_placeholders

        from . import configuration
        from .followups.messages import placeholder_descriptions
        from .metrics import WorkCollector

        configuration.connect_signals()  # kinds, boards, policies held per process: reload on change
        register_work_collector("tickets", WorkCollector())
        # The placeholders message templates may use are declared where their values are filled.
        register_placeholders(placeholder_descriptions())
