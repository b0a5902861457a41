"""The address book's audit trail: who changed which contact, and when."""

import time

AUDIT_TRAIL: list[dict] = []


def record_change(user, contact_name, action):
    """Append who did what to which contact to the audit trail."""
    AUDIT_TRAIL.append({"at": time.time(), "user": user, "contact": contact_name, "action": action})
