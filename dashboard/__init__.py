"""The QBR web dashboard: page shells (Jinja) + a small script over the JSON API.

from api import init_qbr, qbr_blueprint
from dashboard import dashboard_blueprint

init_qbr(app)
app.register_blueprint(qbr_blueprint)                         # /api/qbr
app.register_blueprint(dashboard_blueprint, url_prefix="/qbr")  # or "/" standalone
"""

from dashboard.blueprint import dashboard_blueprint

__all__ = ["dashboard_blueprint"]
