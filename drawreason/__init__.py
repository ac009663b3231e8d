"""drawreason: one import namespace for the project's packages (`drawreason.filters`, ...).

The wheel installs them inside this package (drawreason/filters/, drawreason/pipelines/, ...).
In a checkout they are the folders beside this one (filters/, pipelines/, ... at the repository
root, the layout the README documents), so this package's search path gets the repository
root: `import drawreason.filters` finds ./filters with nothing added to sys.path. Either way
no generic top-level name (`filters`, `schemas`) is imported, so another project's `filters`
can never stand in for ours.
"""

from pathlib import Path

_HERE = Path(__file__).resolve().parent
if not (_HERE / "schemas").is_dir():  # a checkout: the packages are the folders beside this one
    __path__.append(str(_HERE.parent))
