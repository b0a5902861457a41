"""Domain types of the address book."""

from dataclasses import dataclass, field


@dataclass
class Contact:
    """A person in the address book, with every way to reach them."""

    name: str
    emails: list[str] = field(default_factory=list)
    phone: str | None = None

    def primary_email(self) -> str | None:
        """The address to write to first: the one listed first."""
        return self.emails[0] if self.emails else None
