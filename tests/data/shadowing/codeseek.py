"""The project's own contact search (it happens to share a name with the codeseek tool)."""


def find_contacts(book, text):
    """Contacts whose name or email address contains the text, ignoring case."""
    needle = text.lower()
    return [c for c in book if needle in c.name.lower() or any(needle in e.lower() for e in c.emails)]


if __name__ == "__main__":
    print("this is the address book's codeseek.py, not the codeseek language server")
