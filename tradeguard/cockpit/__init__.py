"""What an operator sees and touches: API settings, the control port, Prometheus metrics."""
