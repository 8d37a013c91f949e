"""What the scripts run (train, evaluate, export, render a checkpoint, loss landscape, generate data).

The top layer: tasks import the library (models, data, diagnostics, logging, training); nothing in
the library imports a task.
"""
