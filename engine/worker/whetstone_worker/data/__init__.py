"""Data for training: chat rendering and masking (chat.py), batching and order (batches.py)."""
