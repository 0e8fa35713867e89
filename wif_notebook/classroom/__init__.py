"""``wif classroom``: a workshop on one machine, built on a real JupyterHub.

- ``hub.py``: ``up`` / ``status`` / ``down`` of the hub (JupyterHub + configurable-http-proxy), its
  generated configuration and the workshop's secrets, in the classroom directory.
- ``singleuser.py``: what each learner's server runs: copy the lessons into the learner's home,
  start the learner's own kit (own ``WIF_STATE_DIR``, own ports), then ``jupyterhub-singleuser``.
- ``room.py``: the instructor's room view, a hub-managed JupyterHub service (OAuth, instructors only).

Isolation (stated in docs/INSTRUCTORS.md and in ``wif classroom up --json``): learners' servers are
JupyterHub's ``SimpleLocalProcessSpawner`` processes of the instructor's OS user, each with its own
home (0700), state directory and ports. The hub keeps learners out of each other's servers; the OS
does not keep a learner's code out of another's files, because creating system users needs root on
the instructor's machine. For a room that must be isolated, use The Littlest JupyterHub (system users)
or Zero to JupyterHub (a pod per learner) with the same image and ``wif_notebook.classroom.singleuser``.
"""
