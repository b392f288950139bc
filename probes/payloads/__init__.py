"""Pure payload generators for the blackbox probes.

``traversal`` holds hypothesis strategies of invalid scene paths, one per
encoding category; ``tokens`` builds bad ``Authorization`` header values from
a valid token. Neither module does I/O or reads the clock, so the probes can
replay any payload and the self-tests can check each one against the contract
without a server. Submodules are not imported here: a probe that needs only
tokens should not pay for importing hypothesis.
"""
