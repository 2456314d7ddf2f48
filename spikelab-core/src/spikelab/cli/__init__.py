"""The ``spikelab`` command line."""
