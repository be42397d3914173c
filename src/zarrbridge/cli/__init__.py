"""The ``zarrbridge`` command line tool (``zarrbridge --help``); most commands need the ``nwb`` extra."""
