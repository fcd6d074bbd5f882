"""A class on the course's JupyterHub, for tests/test_hub.py.

``classhub`` starts the hub of deploy/ (the shipped configuration with the test
overlay) and makes the course repository the students pull; ``students``
drives one student per thread in headless Chromium; ``processes`` finds each
student's processes, their listening ports and memory from outside.
"""
