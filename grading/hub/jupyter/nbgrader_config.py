# The nbgrader settings every user of the class hub reads (students and instructors).
# On a hub set up by hand this file is /etc/jupyter/nbgrader_config.py; the hub in
# grading/hub/jupyterhub_config.py puts this folder on JUPYTER_CONFIG_PATH instead.
#
# The exchange is one folder shared by everyone, created once by root with the
# permissions nbgrader's documentation asks for (world-writable, sticky bit):
#     mkdir -p /srv/nbgrader/exchange && chmod 1777 /srv/nbgrader/exchange
# nbgrader then makes <course>/outbound (readable by all), <course>/inbound
# (students may write, but not list it) and <course>/feedback (not listable)
# inside it when the instructor first releases a lab.
import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "mini_accel"
c.Exchange.root = os.environ.get("MINI_ACCEL_EXCHANGE", "/srv/nbgrader/exchange")
