"""Running the pipeline: the wrapper of each DVC stage's entry point, and the DVC commands
(repro, experiments, sweeps) that the Prefect flows in pipelines/ run as tasks."""
