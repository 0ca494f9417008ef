"""The validation matrix: scenario files on real data, each with the outcome it must produce."""
