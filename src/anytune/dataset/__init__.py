"""Dataset tools: streaming JSONL reading, format rules, statistics, conversion."""
