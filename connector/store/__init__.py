"""The local store: typed models, engine/session setup, and the queries the engine runs."""
