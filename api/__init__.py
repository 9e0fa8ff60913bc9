"""The QBR API: a Flask app factory and a blueprint that mounts into any Flask app."""

from api.app import create_app
from api.blueprint import init_qbr, qbr_blueprint

__all__ = ["create_app", "init_qbr", "qbr_blueprint"]
