"""A minimal third-party SpikeLab sorter."""
