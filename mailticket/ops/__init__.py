"""What an admin runs the helpdesk with: one health verdict (``health``) and
Prometheus metrics (``metrics``), both read from the database so they tell the same
story whichever daemon (or none) runs; logs as text or JSON lines (``logs``); the
mailboxes reconciled against what was stored (``reconcile``)."""
