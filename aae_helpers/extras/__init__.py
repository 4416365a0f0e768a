"""Opt-in additions no notebook uses: the XLA Adam (speed) and the improved few-label recipe
(improved). Import them by name: `from aae_helpers.extras import speed`."""
