"""`medlc run`: score a roster of models on lm-eval tasks, uniformly, one atomic results
folder per (model, task) pair. See harness_configs/README.md for configs and layout."""
