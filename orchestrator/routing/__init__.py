"""Contact-centre routing: queues, skills, offers, capacity and business hours. PURE.

The model (:mod:`.spec`) is ``flows/routing.yaml``; :mod:`.board` decides offers and
assignments from events and the clock it is given, as data. Keeping the conversations and
agents in Redis, atomically, is :mod:`orchestrator.state`'s job.
"""
