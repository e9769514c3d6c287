"""Code the tests share: tool runners, judges, simulators and the stacks as the tests evaluate them."""
