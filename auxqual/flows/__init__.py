"""Prefect flows of the pipeline, shipped in the wheel: orchestration only, no algorithm.

- ``auxqual.flows.pipeline``: ``dvc repro`` as a flow (one task per stage, retries while the
  repository is busy, one run at a time per repository, artifacts and a run record for every run).
  ``auxqual run`` runs it once.
- ``auxqual.flows.deploy``: the pipeline on a cron schedule (``flow.serve`` on one machine);
  ``auxqual schedule`` serves it.
- ``auxqual.flows.dvcrepo``: the plumbing (run ``dvc``, read its status and DAG, edit
  params.yaml); it imports neither Prefect nor DVC.

This is the only part of the ``auxqual`` package that imports Prefect, and nothing else in the
package imports it (the algorithms stay free of orchestration). The repository's top-level
``flows/`` holds the benchmark's flows (many datasets, a local Dask cluster), which run from a
checkout only.
"""
