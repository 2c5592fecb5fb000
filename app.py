"""Margin: gross margin per customer (LLM cost vs Stripe revenue). Page config and navigation only;
every page draws the shared frame itself (pages/_frame.py)."""

import streamlit as st

st.set_page_config(page_title="Margin", page_icon=":material/savings:", layout="wide")
st.navigation(
    {
        "Margins": [
            st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
            st.Page("pages/customers.py", title="Customers", icon=":material/group:"),
            st.Page("pages/margin_over_time.py", title="Margin over time", icon=":material/show_chart:"),
            st.Page("pages/cross_subsidy.py", title="Cross-subsidy", icon=":material/balance:"),
            st.Page("pages/investor.py", title="Investor view", icon=":material/monitoring:"),
            st.Page("pages/customer.py", title="Customer", icon=":material/person:"),
        ],
        "Costs": [
            st.Page("pages/costs.py", title="Costs", icon=":material/receipt_long:"),
        ],
        "Data": [
            st.Page("pages/connections.py", title="Connections", icon=":material/key:"),
            st.Page("pages/mapping.py", title="Mapping", icon=":material/link:"),
            st.Page("pages/import_export.py", title="Import & export", icon=":material/swap_vert:"),
            st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
        ],
    }
).run()
