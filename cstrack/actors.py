"""Who did something: a console user, an API integration, or the system itself."""

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
        return self.user is not None and self.user.has_perm(perm)


SYSTEM = Actor()
