"""Export the address book as JSON documents, and read them back."""


def contact_to_document(contact):
    """Turn a contact into a plain dictionary that can be written out as JSON."""
    return {"name": contact.name, "emails": list(contact.emails), "phone": contact.phone}


def document_to_fields(document):
    """Read the name, email addresses and phone number back out of an exported document."""
    return document["name"], list(document.get("emails", [])), document.get("phone")
