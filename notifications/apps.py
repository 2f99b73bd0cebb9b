from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "알림 발송"

    def ready(self):
        from . import tasks  # noqa: F401 - registers the tasks that services.delivery_task() looks up
