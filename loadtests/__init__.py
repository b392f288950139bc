"""Locust load profiles for the SpaceTime HttpApiServer (`locust -f loadtests/api.py`).

Modules without Locust or gevent imports (profile, stages, traffic, schedule,
latency, thresholds, capacity, results) hold the logic and are unit-tested in
process; users, openmodel, shapes, plugin and api are the Locust shell.
"""
