"""Re-encrypt every encrypted column under the newest PII key (and, with --rehash, recompute
the keyed-hash lookup columns after PII_HASH_KEY changed). Safe to re-run; batches commit one
by one, so an interrupted run resumes where it left off."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from cstrack import pii
from tickets.models import ThirdPartyDelegation, Ticket
from tickets.privacy import attachments


def encrypted_fields():
    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, pii.EncryptedTextField | pii.EncryptedJSONField)
        ]
        if names:
            yield model, names


class Command(BaseCommand):
    help = "개인정보 암호화 키를 교체합니다 (새 키로 다시 암호화)."

    def add_arguments(self, parser):
        parser.add_argument("--rehash", action="store_true", help="PII_HASH_KEY 변경 후 조회용 해시를 다시 계산")
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, *args, rehash, batch, **options):
        for model, names in encrypted_fields():
            count = 0
            ids = list(model.objects.order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(ids), batch):
                with transaction.atomic():
                    for obj in (
                        model.objects.select_for_update().filter(pk__in=ids[start : start + batch]).only("pk", *names)
                    ):
                        # Reading decrypts with any configured key; saving encrypts with the first.
                        obj.save(update_fields=names)
                        count += 1
            self.stdout.write(f"{model._meta.label}: {count} row(s) re-encrypted ({', '.join(names)})")
        self.stdout.write(f"tickets.Attachment: {attachments.rotate_files()} file(s) re-encrypted")
        if rehash:
            count = 0
            for ticket in Ticket.objects.exclude(customer_phone__isnull=True).only("pk", "customer_phone").iterator():
                Ticket.objects.filter(pk=ticket.pk).update(customer_phone_hash=pii.blind_index(ticket.customer_phone))
                count += 1
            self.stdout.write(f"tickets.Ticket: {count} phone hash(es) recomputed")
            count = 0
            for d in ThirdPartyDelegation.objects.exclude(third_party_phone__isnull=True).iterator():
                ThirdPartyDelegation.objects.filter(pk=d.pk).update(
                    third_party_phone_hash=pii.blind_index(d.third_party_phone)
                )
                count += 1
            self.stdout.write(f"tickets.ThirdPartyDelegation: {count} phone hash(es) recomputed")
