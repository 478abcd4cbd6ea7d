"""A production project for the user's own data: ``auxqual init`` scaffolds it
(:mod:`auxqual.project.scaffold`), ``dvc repro`` runs its stages through ``auxqual stage
<name>`` (:mod:`auxqual.project.stages`), with params checked by one schema
(:mod:`auxqual.project.params`). The templates of ``dvc.yaml`` and ``params.yaml`` live in
``templates/`` inside the package, so a scaffolded project needs only an installed auxqual.
"""
