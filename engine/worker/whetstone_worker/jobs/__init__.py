"""The worker's commands besides training (recipes/), one module each, run by server.py's TASKS table:
run(job_id, command, emitter, cancelled) -> result, raising errors.Cancelled at a cancel request."""
