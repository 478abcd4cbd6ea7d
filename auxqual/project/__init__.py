"""A production project for the user's own data: ``auxqual init`` scaffolds it
(``auxqual.project.scaffold``), ``dvc repro`` runs its stages through ``auxqual stage
<name>`` (``auxqual.project.stages``), with params checked by one schema
(``auxqual.project.params``). The templates of ``dvc.yaml`` and ``params.yaml`` live in
``templates/`` inside the package, so a scaffolded project needs only an installed auxqual.
"""
