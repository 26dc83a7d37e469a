"""The benchmark's cells live in this folder; the RobustMQ plugin (entry point) drives them."""
