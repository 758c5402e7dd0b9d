"""Mail transports: SendGrid when a key is set, otherwise the outbox folder."""
