"""Rules and witnesses as users write them, outside symopt, for tests/test_user_rules.py."""
