"""Pure domain rules: money, payment terms, penalties, calendars. No I/O here."""
