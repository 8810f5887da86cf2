"""``dbkeeper demo``: a real end-to-end run of every capability, one module per step."""
