"""Golden snapshots of reference outputs on fixed inputs."""
