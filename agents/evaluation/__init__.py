"""Evaluating a run: loading it, its episodes and their record, focus statistics, confidence intervals and tables."""
