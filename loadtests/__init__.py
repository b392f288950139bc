"""Locust load profiles for the SpaceTime HttpApiServer (`locust -f loadtests/api.py`).

Modules without Locust or gevent imports (settings, stages, traffic, schedule,
latency, thresholds, summary, capacity, results) hold the logic and are
unit-tested in process; users, openmodel, shapes, options, plugin and api are
the Locust shell. Target profiles, token files and the results writer are the
probes' own (`probes.profile`, `probes.target`, `probes.results`).
"""
