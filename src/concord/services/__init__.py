"""Application services: the use cases the doors (API, CLI, CoT server, drills) call.

Each service receives its collaborators (unit-of-work factory, clock, settings) from
``concord.bootstrap``; none reads the wall clock or opens a database by itself.
"""
