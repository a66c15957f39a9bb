"""What a command runs end to end: scoring a registry, a district's plan, the demo, experiments.

The CLI's commands are thin calls into these jobs; the jobs call the library's layers (survey, pmt,
decide, audit, report) and print progress on the console.
"""
