"""Features later lessons plug into the service (see notebook 02); each lesson restates the whole list."""
EXTENSIONS: list[str] = [
    "app.faults",    # notebook 04: /admin/faults and the fault-injection hook
    "app.drift",     # notebook 05: count inputs and scores into the training profile's bins
    "app.feedback",  # notebook 06: prediction log, POST /feedback, confusion counters by model version
    "app.versions",  # notebook 07: route between model versions (models/deployment.json), split or shadow
]
