"""Reusable machinery behind the face-generation notebook: layer helpers and the training loop."""
