"""Reference solutions of the notebooks' exercises, one module per notebook.

They live here, not in the notebooks, whose exercise cells are stored unsolved.
Each notebook's tests run these solutions through the same ``helpers.check`` a
student's cell uses, so an exercise whose reference answer does not pass its
own cases fails the suite.
"""
