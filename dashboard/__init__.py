"""The Streamlit review console: ``streamlit run dashboard/app.py``.

Nothing here runs at import: the app reads its settings and connects when Streamlit runs it.
"""
