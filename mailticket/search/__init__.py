"""Full-text search over tickets, and the analyzer it shares with FAQ suggestions and
candidate clusters."""
