"""Packaged SLO specs (package data): ``spacetime.yaml`` and its OpenSLO twin."""
