"""Who did something: a console user, an API integration, or the system itself. What an actor
may do is the access policy's question (`tickets.access.policy`), not this class's."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user: object = None
    label: str = "system"

    @classmethod
    def for_user(cls, user):
        return cls(user=user, label=user.get_username())

    @classmethod
    def integration(cls, name: str, user=None):
        return cls(user=user, label=f"integration:{name}")

    def has_perm(self, perm: str) -> bool:
        """The user's Django permission (the system holds none); what an actor may do to an
        object is the access policy's question."""
        return self.user is not None and self.user.has_perm(perm)


SYSTEM = Actor()
