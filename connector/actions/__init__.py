"""The application layer: one function per owner action, the shop passed explicitly, each
owning its transaction; the web, the CLI and the tests call these."""
