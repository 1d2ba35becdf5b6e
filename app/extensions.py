"""Features that later lessons plug into the service, in lesson order.

create_app() imports each module named here and calls its `init_app(app, service)`. A feature adds its
routes and metrics there and may hook into scoring: `service.before_scoring` (called with the rows
before the model runs; may sleep or raise) and `service.after_scoring` (called with the rows and the
fraud probabilities). So a lesson adds a feature by appending one line below, and main.py never changes.
"""
EXTENSIONS: list[str] = []  # module names; each later lesson appends its own line
EXTENSIONS += ["app.faults"]  # notebook 04: /admin/faults and the fault-injection hook
EXTENSIONS += ["app.drift"]   # notebook 05: count inputs and scores into the training profile's bins
