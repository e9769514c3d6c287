"""What only checks or reports: the offline evaluation of a stack under mocks, and the plan built on it."""
