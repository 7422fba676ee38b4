# The shared fixtures live in tests/fixtures.py so every app's tests/ folder gets them.
pytest_plugins = ["tests.fixtures"]
