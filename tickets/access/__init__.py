"""Who may see and do what: `tickets.access.policy` is the one access policy."""
