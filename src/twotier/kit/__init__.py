"""Cross-cutting pieces every domain uses."""
