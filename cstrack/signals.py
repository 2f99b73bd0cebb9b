from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import calendar
from .models import Closure


@receiver([post_save, post_delete], sender=Closure)
def _closures_changed(**kwargs):
    calendar.clear_closure_cache()
