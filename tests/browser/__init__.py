"""Drive JupyterLab in headless Chromium: the course's notebooks as a student runs them.

``lab`` starts a private JupyterLab, ``chromium`` finds and launches the system
browser, ``notebook`` runs and checks one notebook in a page, ``run`` times
them all for the benchmark. ``tests/test_browser.py`` is the test.
"""
