pytest_plugins = ["probes.plugin"]
