"""AppTest's entry to the real router.

Why not ``AppTest.from_file("streamlit_app.py")``: AppTest re-detects a ``pages/`` folder next
to its main script on every run and then runs the current page *without* the router (a real
server decides once per process, and ``st.navigation`` wins). From here there is no ``pages/``
folder beside the entry, so every run goes through ``streamlit_app.py`` exactly as in a browser.
"""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
runpy.run_path(str(ROOT / "streamlit_app.py"), run_name="__main__")
