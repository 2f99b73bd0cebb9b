"""The Celery app. Settings come from Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("cstrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**kwargs):
    """Worker and beat log through Django's LOGGING (scrubbing formatters) and nothing else:
    with a receiver here Celery adds no handler of its own, task loggers included."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
