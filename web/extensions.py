"""Flask extensions, created unbound and initialised by the app factory."""
from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from workflows.models import Base

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
#: schema migrations in migrations/ (``flask --app web db ...``); bound in create_app, run only by commands
migrate = Migrate()
csrf = CSRFProtect()
