"""The repository's tests opt in to SpikeLab's test kit (fake sorter, fixtures).

The kit is not a ``pytest11`` entry point loaded into every pytest session wherever
spikelab-core is installed. Each package's ``tests/conftest.py`` opts in the same way, for runs
whose rootdir is that package.
"""

from __future__ import annotations

from spikelab.testing import kit_plugins

pytest_plugins = kit_plugins()
