# Jupyter server configuration for the galata UI tests (tests/ui/), passed with
# `jupyter lab --config tests/ui/jupyter_server_test_config.py` by playwright.config.ts.
#
# NEVER use it for anything else: galata's settings switch off the token, the password and
# XSRF checks.
#
# Environment (set by playwright.config.ts):
#   STAGELAB_UI_ROOT         the server's root_dir (a temp dir); galata's tmpPath per test lives
#                            below it
#   STAGELAB_UI_PORT         port (default 8888, galata's default)
#   STAGELAB_LABEXTENSIONS   extra prebuilt lab extension dirs, ":"-separated (optional)
# JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR, JUPYTER_RUNTIME_DIR and IPYTHONDIR point into a temp
# dir too; the venv's share/jupyter (kernels, ipywidgets' lab extension) is found through
# JUPYTER_PATH and the venv prefix.

import os
import tempfile

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821

configure_jupyter_server(c)

c.ServerApp.port = int(os.environ.get("STAGELAB_UI_PORT", "8888"))
c.ServerApp.root_dir = os.environ.get("STAGELAB_UI_ROOT") or tempfile.mkdtemp(
    prefix="stagelab-ui-root-"
)
c.ServerApp.allow_root = True
c.FileContentsManager.delete_to_trash = False
# No "new version available" look-ups or news: the machine may be offline.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None

# galata sets a single path (its helper extension) as a string; keep it first.
galata_ext = c.LabServerApp.extra_labextensions_path
paths = [galata_ext] if isinstance(galata_ext, str) else list(galata_ext)
paths += [p for p in os.environ.get("STAGELAB_LABEXTENSIONS", "").split(":") if p]
c.LabServerApp.extra_labextensions_path = paths
