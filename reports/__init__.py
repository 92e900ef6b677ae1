"""Turn a results directory from `medlc run` into a leaderboard, plots, and a CI gate."""
