"""Mail that goes out: what each kind says (templates, in the reader's language), how it
is built, queued in the ticket's own transaction and delivered."""
