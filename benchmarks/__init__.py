"""orchflow benchmarks: each figure is reported with a floor measured in the same run."""
