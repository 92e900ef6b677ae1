"""`medlc study`: from a base model to the answered question in one file and one command.

config.py reads the study file; derived.py writes the fine-tuning sweep and the harness
config it implies; plan.py lists what will run (`--dry_run`); run.py runs the stages
(finetune.sweep, medlc.runner.run, reports.report).
"""
