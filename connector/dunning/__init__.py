"""The dunning engine: planner (pure), runner (claims and sends), templates and letters."""
