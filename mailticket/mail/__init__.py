"""What incoming and outgoing mail share: the ticket tag in subjects and the token
addresses that lead a reply to its ticket."""
