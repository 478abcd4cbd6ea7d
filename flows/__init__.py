"""Prefect flows around the DVC pipeline: orchestration only, no algorithm.

- ``auxqual.flows.pipeline``: ``dvc repro`` as a flow (one task per stage, retries while the
  repository is busy, one run at a time per repository, artifacts for every run).
- ``auxqual.flows.deploy``: the pipeline on a cron schedule (``flow.serve`` on one machine).
- ``flows.benchmark``: the pipeline over a folder of ADBench datasets, one task per
  dataset, on threads or a Dask cluster; one Q1 / Q2 table for all of them.
- ``flows.cluster``: a Dask scheduler and workers as separate processes on this machine,
  started with the commands of docs/orchestration.md (the cluster tests and benchmark use it).
- ``auxqual.flows.dvcrepo``: the plumbing (run ``dvc``, read its status and DAG, edit params.yaml);
  it imports neither Prefect nor DVC.

DVC owns the DAG, the versions and the cache; these flows own time (schedules,
retries, run history) and scale (task runners).
"""
