"""The load phase (AVL-01…05): locust in its own processes, open loop, judged in the one verdict model.

Modules, one concern each: ``plan`` (options, shapes, windows, certificate pools, the plan file),
``launch`` (locust processes), ``regulator`` (status changes and outages during the load),
``progress`` (the live line), ``results`` (series and merged histograms), ``postcheck`` (every
listing held against its certificate afterwards), ``judge`` (AVL verdicts), ``phase`` (the entry
point ``run_load_phase``), ``command`` (``ccc-conformance load``), ``scope`` (full or partial run).
Nothing here imports locust.
"""
