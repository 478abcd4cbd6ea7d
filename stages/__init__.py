"""DVC stage scripts: read params and files, call the auxqual library, write outputs atomically.

Run each as ``python -m stages.<name>`` from the repository root (that is what dvc.yaml does).
"""
