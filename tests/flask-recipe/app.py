"""The Flask-SQLAlchemy multi-tenant recipe that sea-orm-tenant grows from.

A ``MultiTenantSQLAlchemy`` subclass picks the engine of the tenant named by
``?tenant=`` for the whole request: one SQLAlchemy bind per tenant. This is the
baseline of ``just bench-vs-flask`` (run under gunicorn with sync workers), kept
as close to the original recipe as possible; only the ``Note`` model, the
``GET /notes`` route and reading the bind URLs from the environment are added.

Environment:
    FLASK_RECIPE_DB_DIR  absolute path of the folder holding ``test1.db`` and
                         ``test2.db`` (SQLite files, their ``notes`` table made by
                         notes-server's migrations).
"""

import os

from flask import Flask, g, jsonify, request
from flask_sqlalchemy import SQLAlchemy


class MultiTenantSQLAlchemy(SQLAlchemy):
    def choose_tenant(self, bind_key):
        if hasattr(g, 'tenant'):
            raise RuntimeError('Switching tenant in the middle of the request.')
        g.tenant = bind_key

    def get_engine(self, app=None, bind=None):
        if bind is None:
            if not hasattr(g, 'tenant'):
                raise RuntimeError('No tenant chosen.')
            bind = g.tenant
        return super().get_engine(app=app, bind=bind)


def _binds():
    folder = os.environ.get('FLASK_RECIPE_DB_DIR')
    if not folder or not os.path.isabs(folder):
        raise RuntimeError('FLASK_RECIPE_DB_DIR must be the absolute path of the folder of test1.db and test2.db')
    # sqlite:/// + an absolute path (which starts with /): four slashes.
    return {tenant: 'sqlite:///' + os.path.join(folder, tenant + '.db') for tenant in ('test1', 'test2')}


app = Flask(__name__)
app.config['SQLALCHEMY_BINDS'] = _binds()
# Flask-SQLAlchemy 2.x warns unless this is set; tracking only matters for writes.
app.config['SQLALCHEMY_TRACK_MODIFICATIONS'] = False
db = MultiTenantSQLAlchemy(app)


@app.before_request
def before_request():
    db.choose_tenant(request.args['tenant'])


class Note(db.Model):
    """The ``notes`` table of notes-server's migrations (its ``title`` column is not read)."""

    __tablename__ = 'notes'
    id = db.Column(db.Integer, primary_key=True)
    body = db.Column(db.Text, nullable=False)


@app.route('/notes')
def list_notes():
    """The tenant's notes ordered by id, at most 100: the answer of notes-server's ``GET /notes``."""
    notes = Note.query.order_by(Note.id).limit(100).all()
    return jsonify([{'id': note.id, 'body': note.body} for note in notes])
