"""What an admin runs the helpdesk with: logs as text or JSON lines, reconciliation of
mailboxes against what was stored."""
