"""Evaluating a run.

Loading it (``evaluate.load``, or ``safe_load`` that unpickles nothing), its episodes and their record, the probe
batch the focus is reported on, focus statistics, confidence intervals and tables.
"""
