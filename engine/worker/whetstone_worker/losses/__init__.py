"""Loss components shared by recipes (goldfish.py: which target tokens the loss leaves out)."""
