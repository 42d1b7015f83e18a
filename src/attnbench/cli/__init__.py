"""Thin console entry points: parse the arguments, call the package, turn the outcome into an exit code.

They live outside ``studies/`` and ``reporting/`` because ``attnbench-report --study`` reads a study
file and a report must not import the studies package (the studies import reporting).
"""
