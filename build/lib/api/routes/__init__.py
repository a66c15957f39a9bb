"""One router per resource: score, households, models, health."""
